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
