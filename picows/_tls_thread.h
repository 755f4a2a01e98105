/* Per-thread state of picows._tls: the ciphertext buffers and the BIO window (see _tls.pyx).
 *
 * One set per thread, not per process: a transport's unread input stays in the receive buffer while its
 * protocol runs Python code, during which the GIL may pass to a thread that runs another event loop, whose
 * transports must not overwrite it. Allocated on a thread's first TLS read or write, freed when it exits.
 */
#ifndef PICOWS_TLS_THREAD_H
#define PICOWS_TLS_THREAD_H

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>

#define PICOWS_TLS_IO_BUF 262144
#define PICOWS_TLS_RECORD 16384

typedef struct {
    /* The BIO allowed to move data now: set only while its transport is inside an OpenSSL call. */
    void *bio;
    /* Ciphertext for that BIO to read, and the length of the records written to out_buf so far. */
    const char *src;
    ptrdiff_t src_len;
    ptrdiff_t out_len;
    char in_buf[PICOWS_TLS_IO_BUF];
    char out_buf[PICOWS_TLS_IO_BUF];
    /* A frame's header and the start of its payload, encrypted as one record. */
    char record_buf[PICOWS_TLS_RECORD];
} picows_tls_thread;

static pthread_key_t picows_tls_key;
static pthread_once_t picows_tls_once = PTHREAD_ONCE_INIT;
static int picows_tls_key_ok;

static void picows_tls_key_create(void)
{
    picows_tls_key_ok = pthread_key_create(&picows_tls_key, free) == 0;
}

/* 0 when the thread-specific key could not be created (TLS then stays on the loop's transport). */
static int picows_tls_thread_init(void)
{
    pthread_once(&picows_tls_once, picows_tls_key_create);
    return picows_tls_key_ok;
}

/* This thread's state, allocated on first use; NULL only when out of memory. */
static inline picows_tls_thread *picows_tls_thread_get(void)
{
    picows_tls_thread *t = (picows_tls_thread *)pthread_getspecific(picows_tls_key);
    if (t == NULL) {
        t = (picows_tls_thread *)calloc(1, sizeof *t);
        if (t != NULL && pthread_setspecific(picows_tls_key, t) != 0) {
            free(t);
            t = NULL;
        }
    }
    return t;
}

/* This thread's state if it has one (for the BIO callbacks, which run inside a transport's call). */
static inline picows_tls_thread *picows_tls_thread_peek(void)
{
    return (picows_tls_thread *)pthread_getspecific(picows_tls_key);
}

#endif /* PICOWS_TLS_THREAD_H */
