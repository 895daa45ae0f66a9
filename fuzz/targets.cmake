# What each fuzz/fuzz_*.c links besides its driver. Shared by the libFuzzer build (fuzz/, with
# TS_FUZZ) and the corpus replay tests of the normal build (tests/fuzz_replay).
function(ts_fuzz_target_link target name)
  target_link_libraries(${target} PRIVATE ts_authz_internal ts_warnings)
  if(name MATCHES "^fuzz_(jw|p256|revocations)")
    target_link_libraries(${target} PRIVATE ts_authn_internal)
  endif()
  if(name STREQUAL "fuzz_form")
    # The token service's form parser alone, without the rest of the service.
    target_sources(${target} PRIVATE ${PROJECT_SOURCE_DIR}/tokenservice/service/src/form.c)
    target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/tokenservice/service/src)
    target_link_libraries(${target} PRIVATE ts_store ts_base)
  endif()
  if(name MATCHES "^fuzz_(service_config|token_endpoint)$")
    # The token service in-process: its configuration parser and its HTTP handlers.
    target_link_libraries(${target} PRIVATE ts_service)
  endif()
  if(name STREQUAL "fuzz_client_auth")
    # Client authentication of /oauth/revoke and /oauth/introspect (clients.c) with the form
    # parser, without the rest of the service.
    target_sources(${target} PRIVATE ${PROJECT_SOURCE_DIR}/tokenservice/service/src/clients.c
                   ${PROJECT_SOURCE_DIR}/tokenservice/service/src/form.c)
    target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/tokenservice/service/src)
    target_link_libraries(${target} PRIVATE ts_store ts_base ts_common PkgConfig::JANSSON)
  endif()
  if(name STREQUAL "fuzz_oidc_config")
    target_link_libraries(${target} PRIVATE ts_oidc)
  endif()
  if(name STREQUAL "fuzz_client_response")
    # The client library's token-response parser (client/).
    target_link_libraries(${target} PRIVATE ts_client_static)
  endif()
  if(name STREQUAL "fuzz_agent_config")
    # The agent's YAML/JSON configuration parser and validator (tokenservice/agent/).
    target_link_libraries(${target} PRIVATE ts_agent)
  endif()
  if(name STREQUAL "fuzz_http_response")
    # The lean HTTP client's response parser (common/, the base layer).
    target_link_libraries(${target} PRIVATE ts_base)
  endif()
  if(name STREQUAL "fuzz_agent_request")
    # The agent's listeners' request-head parser (tokenservice/agent/).
    target_link_libraries(${target} PRIVATE ts_agent)
  endif()
  if(name STREQUAL "fuzz_gateway_config")
    # The gateway's JSON configuration reader and its rules (tokenservice/gateway/).
    target_link_libraries(${target} PRIVATE ts_gateway)
  endif()
  if(name STREQUAL "fuzz_grpc_h2")
    # One HTTP/2 connection of the gateway's gRPC listener (tokenservice/gateway/).
    target_link_libraries(${target} PRIVATE ts_gateway)
  endif()
  if(name STREQUAL "fuzz_mappings")
    # The token mappings reader and model alone, without the rest of the service.
    target_sources(${target} PRIVATE ${PROJECT_SOURCE_DIR}/tokenservice/service/src/mappings.c
                   ${PROJECT_SOURCE_DIR}/tokenservice/service/src/mappings_doc.c)
    target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/tokenservice/service/src)
    target_link_libraries(${target} PRIVATE ts_base PkgConfig::JANSSON ts_authn_static)
  endif()
  if(name STREQUAL "fuzz_grpc_check")
    # The gateway's gRPC CheckRequest decoding and CheckResponse encoding (tokenservice/gateway/).
    target_link_libraries(${target} PRIVATE ts_gateway)
  endif()
  if(name STREQUAL "fuzz_policy_bundle")
    # The policy bundle document parser of `tokensmith policy sync` (tokenservice/cli/).
    target_sources(${target} PRIVATE ${PROJECT_SOURCE_DIR}/tokenservice/cli/policy_bundle_doc.c)
    target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/tokenservice/cli)
    target_link_libraries(${target} PRIVATE ts_base PkgConfig::JANSSON)
  endif()
endfunction()
