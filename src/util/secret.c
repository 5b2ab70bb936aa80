/* util/secret.c: token and password hashing with libsodium. */
#include "util/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/mem.h"

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

    static const char hex[] = "0123456789abcdef";

    crypto_generichash(h, sizeof(h), (const unsigned char *)token, len, key, sizeof(key) - 1);
    /* Not sodium_bin2hex: its constant time buys nothing for a digest that is then looked up
     * (compared byte by byte) in the cache and the store, and it cost every authenticated
     * request about 800 instructions. */
    for (size_t i = 0; i < sizeof(h); i++) {
        out[2 * i] = hex[h[i] >> 4];
        out[2 * i + 1] = hex[h[i] & 15];
    }
    out[2 * sizeof(h)] = '\0';
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

/* ---- sealed secrets (secret.h) ---- */

#define KEYFILE_HEX (2 * SECRET_BOX_KEY_BYTES)

static int keyfile_create(const char *path, unsigned char key[SECRET_BOX_KEY_BYTES], char *why,
                          size_t why_len)
{
    char hex[KEYFILE_HEX + 2];
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ssize_t n;

    if (fd < 0 && errno == EEXIST)
        return 1; /* there already: read it */
    if (fd < 0) {
        snprintf(why, why_len, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    randombytes_buf(key, SECRET_BOX_KEY_BYTES);
    sodium_bin2hex(hex, sizeof(hex), key, SECRET_BOX_KEY_BYTES);
    hex[KEYFILE_HEX] = '\n';
    n = write(fd, hex, KEYFILE_HEX + 1);
    sodium_memzero(hex, sizeof(hex));
    /* Durable before anything is sealed under it: a key lost in a crash would leave every
     * secret sealed since unreadable. */
    if (n != KEYFILE_HEX + 1 || fsync(fd) != 0) {
        snprintf(why, why_len, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    close(fd);
    return 0;
}

int secret_keyfile_load(const char *path, unsigned char key[SECRET_BOX_KEY_BYTES], char *why,
                        size_t why_len)
{
    char hex[KEYFILE_HEX + 3];
    struct stat sb;
    size_t len;
    ssize_t n;
    int fd, rc;

    rc = keyfile_create(path, key, why, why_len);
    if (rc <= 0)
        return rc;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) != 0) {
        snprintf(why, why_len, "cannot read %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (sb.st_mode & 077) {
        snprintf(why, why_len, "%s may be read or written by others (mode %03o): chmod 600 it",
                 path, (unsigned)(sb.st_mode & 0777));
        close(fd);
        return -1;
    }
    n = read(fd, hex, sizeof(hex) - 1);
    close(fd);
    if (n < 0) {
        snprintf(why, why_len, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    len = (size_t)n;
    hex[len] = '\0';
    while (len > 0 && (hex[len - 1] == '\n' || hex[len - 1] == '\r'))
        hex[--len] = '\0';
    if (len != KEYFILE_HEX ||
        sodium_hex2bin(key, SECRET_BOX_KEY_BYTES, hex, len, NULL, NULL, NULL) != 0) {
        sodium_memzero(hex, sizeof(hex));
        snprintf(why, why_len, "%s must hold %d hex digits (a key tagd made)", path,
                 KEYFILE_HEX);
        return -1;
    }
    sodium_memzero(hex, sizeof(hex));
    return 0;
}

void secret_key_id(const unsigned char key[SECRET_BOX_KEY_BYTES], char *out, size_t outlen)
{
    unsigned char h[8];
    static const unsigned char ctx[] = "tagd-webhook-key-id";

    crypto_generichash(h, sizeof(h), ctx, sizeof(ctx) - 1, key, SECRET_BOX_KEY_BYTES);
    if (outlen >= 2 * sizeof(h) + 1)
        sodium_bin2hex(out, outlen, h, sizeof(h));
    else if (outlen > 0)
        out[0] = '\0';
}

#define BOX_NONCE crypto_secretbox_xchacha20poly1305_NONCEBYTES
#define BOX_MAC crypto_secretbox_xchacha20poly1305_MACBYTES

char *secret_box_seal(const unsigned char key[SECRET_BOX_KEY_BYTES], const char *plain)
{
    size_t n = strlen(plain), blen = BOX_NONCE + BOX_MAC + n;
    unsigned char *buf = xmalloc(blen);
    char *out = xmalloc(3 + 2 * blen + 1);

    /* Random 192-bit nonces: XChaCha20's are long enough that random ones never repeat. */
    randombytes_buf(buf, BOX_NONCE);
    crypto_secretbox_xchacha20poly1305_easy(buf + BOX_NONCE, (const unsigned char *)plain, n,
                                            buf, key);
    memcpy(out, "v1.", 3);
    sodium_bin2hex(out + 3, 2 * blen + 1, buf, blen);
    xfree(buf);
    return out;
}

bool secret_box_open(const unsigned char key[SECRET_BOX_KEY_BYTES], const char *sealed,
                     char *out, size_t outlen)
{
    unsigned char buf[BOX_NONCE + BOX_MAC + SECRET_BOX_MAX];
    size_t hexlen, blen;

    if (sealed == NULL || strncmp(sealed, "v1.", 3) != 0)
        return false;
    hexlen = strlen(sealed + 3);
    if (hexlen % 2 || hexlen / 2 < BOX_NONCE + BOX_MAC || hexlen / 2 > sizeof(buf))
        return false;
    if (sodium_hex2bin(buf, sizeof(buf), sealed + 3, hexlen, NULL, &blen, NULL) != 0 ||
        blen != hexlen / 2)
        return false;
    if (outlen < blen - BOX_NONCE - BOX_MAC + 1)
        return false;
    if (crypto_secretbox_xchacha20poly1305_open_easy((unsigned char *)out, buf + BOX_NONCE,
                                                     blen - BOX_NONCE, buf, key) != 0)
        return false;
    out[blen - BOX_NONCE - BOX_MAC] = '\0';
    return true;
}

void secret_hmac_sign(const char *secret, long long ts, const void *body, size_t len,
                      char out[SECRET_HMAC_HEX])
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char t[32];
    int tn = snprintf(t, sizeof(t), "%lld.", ts);

    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)t, (unsigned long long)tn);
    crypto_auth_hmacsha256_update(&st, body, len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(out, SECRET_HMAC_HEX, mac, sizeof(mac));
}

unsigned secret_random_u32(void)
{
    return (unsigned)randombytes_random();
}

void secret_wipe(void *p, size_t n)
{
    sodium_memzero(p, n);
}
