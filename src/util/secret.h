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

/* ---- secrets that must be read back (webhook signing secrets) ----
 *
 * A webhook's secret signs every delivery, so tagd needs it itself, not only a way to check
 * it: it is sealed (XChaCha20-Poly1305, crypto_secretbox_xchacha20poly1305) under a server
 * key kept in a file outside the store, so that a copy of the store alone reveals nothing. */
#define SECRET_BOX_KEY_BYTES 32
/* Largest plaintext secret_box_seal takes. */
#define SECRET_BOX_MAX 512
/**
 * Reads the 32-byte key from `path` (64 hex digits and a newline), or, when the file does not
 * exist, creates it (mode 0600, O_EXCL: two instances starting together agree on one key)
 * with a fresh random key. Refuses a file others may read or write (mode & 077), a file of
 * another length, or one that is not hex. 0, or -1 with the reason in `why`.
 */
int secret_keyfile_load(const char *path, unsigned char key[SECRET_BOX_KEY_BYTES], char *why,
                        size_t why_len);
/** The key's public name: the first 16 hex digits of a keyed hash of it, stored beside every
 * sealed value so that a value sealed under another key is told apart from a damaged one.
 * out: at least 17 bytes. */
void secret_key_id(const unsigned char key[SECRET_BOX_KEY_BYTES], char *out, size_t outlen);
/** Seals `plain` (at most SECRET_BOX_MAX bytes) under `key`: "v1." + hex(nonce || box),
 * returned owned (xfree). */
char *secret_box_seal(const unsigned char key[SECRET_BOX_KEY_BYTES], const char *plain);
/** Opens what secret_box_seal made into `out` (NUL-ended, at least SECRET_BOX_MAX + 1 bytes).
 * False when it was sealed under another key, is damaged, or is not such a value. */
bool secret_box_open(const unsigned char key[SECRET_BOX_KEY_BYTES], const char *sealed,
                     char *out, size_t outlen);
#define SECRET_HMAC_HEX 65
/** Hex HMAC-SHA-256 of `ts` "." `body` under `secret` (its bytes as the key, any length):
 * the v1 value of X-Tagd-Signature (docs/events.md). */
void secret_hmac_sign(const char *secret, long long ts, const void *body, size_t len,
                      char out[SECRET_HMAC_HEX]);
/** A uniformly random 32-bit number (libsodium's generator). */
unsigned secret_random_u32(void);
/** Overwrites n bytes at p with zeros, in a way the compiler keeps. */
void secret_wipe(void *p, size_t n);

#endif /* TAGD_UTIL_SECRET_H */
