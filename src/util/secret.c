/* util/secret.c: token and password hashing with libsodium. */
#include "util/secret.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

int secret_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

void secret_token(char *out, size_t outlen, const char *prefix)
{
    unsigned char raw[32];
    char b64[64];

    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(out, outlen, "%s%s", prefix ? prefix : "", b64);
}

void secret_hash(const char *token, size_t len, char out[SECRET_HASH_HEX])
{
    unsigned char h[32];
    static const unsigned char key[] = "tagd-token-hash-v1";

    crypto_generichash(h, sizeof(h), (const unsigned char *)token, len, key, sizeof(key) - 1);
    sodium_bin2hex(out, SECRET_HASH_HEX, h, sizeof(h));
}

int secret_pw_hash(const char *pw, char out[SECRET_PW_MAX])
{
    return crypto_pwhash_str(out, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                             crypto_pwhash_MEMLIMIT_INTERACTIVE / 4);
}

bool secret_pw_verify(const char *stored, const char *pw)
{
    return crypto_pwhash_str_verify(stored, pw, strlen(pw)) == 0;
}

bool secret_eq(const char *a, const char *b)
{
    size_t n = strlen(a);
    if (n != strlen(b))
        return false;
    return sodium_memcmp(a, b, n) == 0;
}

void secret_key_new(char out[SECRET_KEY_HEX])
{
    unsigned char k[crypto_auth_KEYBYTES];

    crypto_auth_keygen(k);
    sodium_bin2hex(out, SECRET_KEY_HEX, k, sizeof(k));
    sodium_memzero(k, sizeof(k));
}

static bool key_from_hex(const char *hex, unsigned char k[crypto_auth_KEYBYTES])
{
    size_t n = 0;

    if (hex == NULL || strlen(hex) != SECRET_KEY_HEX - 1)
        return false;
    return sodium_hex2bin(k, crypto_auth_KEYBYTES, hex, SECRET_KEY_HEX - 1, NULL, &n, NULL) == 0 &&
           n == crypto_auth_KEYBYTES;
}

/* Longest message secret_sign takes: a token must stay short enough to travel in a URL. */
#define SIGN_MAX 128

int secret_sign(const char *key_hex, const void *msg, size_t len, const char *prefix, char *out,
                size_t outlen)
{
    unsigned char k[crypto_auth_KEYBYTES], buf[SIGN_MAX + crypto_auth_BYTES];
    size_t pl = prefix ? strlen(prefix) : 0;
    size_t need = pl + sodium_base64_ENCODED_LEN(len + crypto_auth_BYTES,
                                                 sodium_base64_VARIANT_URLSAFE_NO_PADDING);

    if (len > SIGN_MAX || outlen < need || !key_from_hex(key_hex, k))
        return -1;
    memcpy(buf, msg, len);
    crypto_auth(buf + len, buf, len, k);
    sodium_memzero(k, sizeof(k));
    memcpy(out, prefix, pl);
    sodium_bin2base64(out + pl, outlen - pl, buf, len + crypto_auth_BYTES,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return 0;
}

bool secret_verify(const char *key_hex, const char *signed_value, const char *prefix, void *msg,
                   size_t len)
{
    unsigned char k[crypto_auth_KEYBYTES], buf[SIGN_MAX + crypto_auth_BYTES];
    size_t pl = prefix ? strlen(prefix) : 0, n = 0;
    const char *b64;
    bool ok;

    if (len > SIGN_MAX || strncmp(signed_value, prefix ? prefix : "", pl) != 0)
        return false;
    b64 = signed_value + pl;
    if (sodium_base642bin(buf, sizeof(buf), b64, strlen(b64), NULL, &n, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        n != len + crypto_auth_BYTES || !key_from_hex(key_hex, k))
        return false;
    ok = crypto_auth_verify(buf + len, buf, len, k) == 0;
    sodium_memzero(k, sizeof(k));
    if (ok)
        memcpy(msg, buf, len);
    return ok;
}
