/* util/secret.h: tokens and passwords (libsodium).
 *
 * Tokens are 32 random bytes, so a fast keyed hash (BLAKE2b) is enough to store them; passwords
 * are chosen by people and get argon2id. Only hashes are ever stored. */
#ifndef TAGD_UTIL_SECRET_H
#define TAGD_UTIL_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#define SECRET_HASH_HEX 65
#define SECRET_PW_MAX 128

/** Must be called once before any other function here. */
int secret_init(void);
/** Writes a fresh token "tgd_" + 43 base64url characters into `out` (at least 64 bytes). */
void secret_token(char *out, size_t outlen, const char *prefix);
/** Hex BLAKE2b-256 of the token (out: SECRET_HASH_HEX bytes). */
void secret_hash(const char *token, size_t len, char out[SECRET_HASH_HEX]);
/** argon2id hash string of `pw` into out (crypto_pwhash_STRBYTES = 128); 0 or -1. */
int secret_pw_hash(const char *pw, char out[SECRET_PW_MAX]);
bool secret_pw_verify(const char *stored, const char *pw);
#define SECRET_KEY_HEX 65
/** A fresh random MAC key as hex (out: SECRET_KEY_HEX bytes). */
void secret_key_new(char out[SECRET_KEY_HEX]);
/** Writes prefix + base64url(msg || MAC(key, msg)) into `out` (HMAC-SHA-512-256, libsodium's
 * crypto_auth): a self-contained value whose content cannot be changed without the key.
 * Returns -1 when the key is not SECRET_KEY_HEX - 1 hex digits or `out` is too small. */
int secret_sign(const char *key_hex, const void *msg, size_t len, const char *prefix, char *out,
                size_t outlen);
/** Checks a value secret_sign made with `key_hex` and `prefix` and copies its message, which must
 * be exactly `len` bytes, into `msg`. False for anything else (in constant time for the MAC). */
bool secret_verify(const char *key_hex, const char *signed_value, const char *prefix, void *msg,
                   size_t len);
/** Constant-time comparison of two NUL-terminated strings of equal length. */
bool secret_eq(const char *a, const char *b);

#endif /* TAGD_UTIL_SECRET_H */
