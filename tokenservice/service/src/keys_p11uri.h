/* Where a PKCS#11 signing key is (the keyBackend pkcs11 settings) and the pkcs11: URI form of
 * it that the keyFile setting carries (keys_p11uri.c). No PKCS#11 or JOSE types: the
 * configuration code includes this alone. */
#ifndef TS_SVC_KEYS_P11URI_H
#define TS_SVC_KEYS_P11URI_H

#include <stdbool.h>
#include <stddef.h>

#include <tokensmith/error.h>

#define TS_SVC_P11_PATH 1024
#define TS_SVC_P11_LABEL 256
#define TS_SVC_P11_TOKEN_LABEL 33 /**< a token label is 32 bytes (blank padded) at most */
#define TS_SVC_P11_ENV 128

/** Where the key is: what `keyBackend: pkcs11` configures (config.h), or a pkcs11: URI gives. */
typedef struct ts_svc_p11_options {
    char module[TS_SVC_P11_PATH];             /**< the module (.so) to dlopen */
    char token_label[TS_SVC_P11_TOKEN_LABEL]; /**< CK_TOKEN_INFO.label, without padding */
    char key_label[TS_SVC_P11_LABEL];         /**< CKA_LABEL of the private key */
    char pin_file[TS_SVC_P11_PATH];           /**< a file holding the user PIN, or "" */
    char pin_env[TS_SVC_P11_ENV];             /**< the NAME of a variable holding it, or "" */
    bool allow_insecure_pin_file;             /**< accept a PIN file others may read */
} ts_svc_p11_options;

/* The URI form (RFC 7512) that carries these options through the keyFile setting
 * (keys_p11uri.c): pkcs11:token=T;object=K;type=private?module-path=M&pin-source=file:F, or
 * pin-source=env:NAME. Percent-encoding as RFC 7512 §2.3; never a PIN value (pin-value is
 * refused). */

/** Whether @p key_file names a PKCS#11 key ("pkcs11:..."). */
bool ts_svc_p11_is_uri(const char *key_file);

/** Write @p o as a pkcs11: URI into @p buf (TS_ELIMIT when it does not fit @p cap). */
TS_NODISCARD ts_status ts_svc_p11_uri_format(const ts_svc_p11_options *o, char *buf, size_t cap,
                                             ts_error *err);

/** The pkcs11: URI of the five pkcs11 settings (each "" when not given), as
 *  ts_svc_p11_uri_format() writes it: for `serve` and for the gateway's own settings. */
TS_NODISCARD ts_status ts_svc_p11_uri_of(const char *module, const char *token_label,
                                         const char *key_label, const char *pin_file,
                                         const char *pin_env, char *buf, size_t cap, ts_error *err);

/** Parse a pkcs11: URI into @p o. Unknown attributes and pin-value are TS_EINVAL (where
 *  "keyFile"); a missing or empty token, object, module-path or pin-source is TS_EINVAL naming
 *  its setting (pkcs11TokenLabel, pkcs11KeyLabel, pkcs11Module, pkcs11PinFile). */
TS_NODISCARD ts_status ts_svc_p11_uri_parse(const char *uri, ts_svc_p11_options *o, ts_error *err);

struct ts_svc_config;
/**
 * keyBackend pkcs11: write its settings as a pkcs11: URI into keyFile (rebuilt when keyFile
 * already holds one); keyDir, a keyFile of another kind, or both PIN sources are errors naming
 * the setting. A setting left out is named when the keys are opened. Called by
 * ts_svc_config_finish().
 */
TS_NODISCARD ts_status ts_svc_p11_config_key_file(struct ts_svc_config *c, ts_error *err);

#endif
