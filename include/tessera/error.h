/* Error codes and the macros that create, convert and propagate them. */
#ifndef TESSERA_ERROR_H
#define TESSERA_ERROR_H

#include <mpi.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every public function returns one of these; TSR_SUCCESS is 0. */
typedef enum tsr_error {
    TSR_SUCCESS = 0,
    TSR_ERR_INPUT,    /* bad user input: options, sizes, layouts (exit status 2) */
    TSR_ERR_ARG,      /* an API function was called with invalid arguments */
    TSR_ERR_MEMORY,   /* allocation failed */
    TSR_ERR_MPI,      /* an MPI call failed */
    TSR_ERR_IO,       /* a file could not be read or written */
    TSR_ERR_VERIFY,   /* a self-test found wrong values */
    TSR_ERR_KERNEL,   /* a user kernel returned non-zero */
    TSR_ERR_INTERNAL, /* a bug in tessera */
} tsr_error;

typedef struct tsr_ctx_s *tsr_ctx;

/* Records an error in ctx (message formatted printf-style) and returns code. Not collective. */
int tsr_error_set(tsr_ctx ctx, int code, const char *file, int line, const char *func,
                  const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Appends file/line to ctx's error trace (shown with TESSERA_DEBUG=1) and returns code. */
int tsr_error_trace(tsr_ctx ctx, int code, const char *file, int line, const char *func);
/* Turns an MPI error code into a tessera error with MPI_Error_string's text. */
int tsr_error_mpi(tsr_ctx ctx, int mpi_code, const char *call, const char *file, int line,
                  const char *func);
/* The process exit status that goes with an error code: 0, 2 for bad input, 1 otherwise. */
int tsr_error_exit_status(int code);
/* A short name for an error code ("bad input", "MPI error", ...). */
const char *tsr_error_name(int code);

/* Propagates a non-zero error code upward, recording where it passed. */
#define TSR_CALL(ctx, expr)                                                                        \
    do {                                                                                           \
        int tsr_call_err_ = (expr);                                                                \
        if (tsr_call_err_ != TSR_SUCCESS)                                                          \
            return tsr_error_trace((ctx), tsr_call_err_, __FILE__, __LINE__, __func__);            \
    } while (0)

/* Returns `code` with a formatted message when `cond` is false. */
#define TSR_CHECK(ctx, cond, code, ...)                                                            \
    do {                                                                                           \
        if (!(cond))                                                                               \
            return tsr_error_set((ctx), (code), __FILE__, __LINE__, __func__, __VA_ARGS__);        \
    } while (0)

/* Runs an MPI call; a failure becomes TSR_ERR_MPI with MPI_Error_string's message. */
#define TSR_MPI(ctx, call)                                                                         \
    do {                                                                                           \
        int tsr_mpi_err_ = (call);                                                                 \
        if (tsr_mpi_err_ != MPI_SUCCESS)                                                           \
            return tsr_error_mpi((ctx), tsr_mpi_err_, #call, __FILE__, __LINE__, __func__);        \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif
