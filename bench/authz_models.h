/* The RBAC and RBAC-with-domains models of Casbin's benchmarks (model_b_test.go), shared by the
 * authz benchmarks. */
#ifndef TS_BENCH_AUTHZ_MODELS_H
#define TS_BENCH_AUTHZ_MODELS_H

static const char rbac_model[] = "[request_definition]\n"
                                 "r = sub, obj, act\n"
                                 "\n"
                                 "[policy_definition]\n"
                                 "p = sub, obj, act\n"
                                 "\n"
                                 "[role_definition]\n"
                                 "g = _, _\n"
                                 "\n"
                                 "[policy_effect]\n"
                                 "e = some(where (p.eft == allow))\n"
                                 "\n"
                                 "[matchers]\n"
                                 "m = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act\n";

static const char domains_model[] =
    "[request_definition]\n"
    "r = sub, dom, obj, act\n"
    "\n"
    "[policy_definition]\n"
    "p = sub, dom, obj, act\n"
    "\n"
    "[role_definition]\n"
    "g = _, _, _\n"
    "\n"
    "[policy_effect]\n"
    "e = some(where (p.eft == allow))\n"
    "\n"
    "[matchers]\n"
    "m = g(r.sub, p.sub, r.dom) && r.dom == p.dom && r.obj == p.obj && r.act == p.act\n";

#endif
