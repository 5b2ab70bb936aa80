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
/** Constant-time comparison of two NUL-terminated strings of equal length. */
bool secret_eq(const char *a, const char *b);

#endif /* TAGD_UTIL_SECRET_H */
