/*
 * log.h — the daemon's log: stderr (with level and time) or syslog.
 *
 * Three kinds of failure (STYLE.md §3): log_error/log_warn for anything
 * that came from outside (network, files, users, config), with a reason;
 * fatal() only for broken internal invariants; assert() only for
 * programming errors.  Never log personal data or payload bytes.
 */
#ifndef KETEN_LOG_H
#define KETEN_LOG_H

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* ident: program name; use_syslog: log to syslog(3) instead of stderr. */
void log_init(const char *ident, enum log_level level, int use_syslog);
void log_set_level(enum log_level level);
/* "error" "warn" "info" "debug" -> level; -1 when unknown. */
int log_level_from_name(const char *name);

/* Batching on: lines are held in memory and written by log_flush() (or
 * when the held lines fill 64 KiB), one write(2) for many lines; off
 * (the start): each line is written at once.  Turning it either way
 * writes what is held. */
void log_batch(int on);
void log_flush(void);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Log and exit(1): an internal invariant is broken. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
