/*
 * log.c — see log.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static enum log_level cur_level = LOG_LEVEL_INFO;
static int to_syslog;
static const char *log_ident = "ketend";

/* Lines held for log_flush() while batching: a busy node writes one
 * write(2) per turn instead of one per line. */
static int batching;
static char held[64 * 1024];
static size_t nheld;
#define LINE_EXTRA 128		/* a line's time, ident and level */

static const char *const level_names[] = { "error", "warn", "info", "debug" };
static const int level_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

void
log_init(const char *ident, enum log_level level, int use_syslog)
{
	log_ident = ident;
	cur_level = level;
	to_syslog = use_syslog;
	if (use_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_set_level(enum log_level level)
{
	cur_level = level;
}

int
log_level_from_name(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(level_names[i], name) == 0)
			return i;
	return -1;
}

static void
log_emit(enum log_level level, const char *fmt, va_list ap)
{
	char msg[2048];
	struct timespec ts;
	struct tm tm;
	size_t room;
	int len;

	if (level > cur_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (to_syslog) {
		syslog(level_prio[level], "%s", msg);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	/* every line goes through the held lines: written at once unless
	 * batching; room for a whole line is made first */
	if (sizeof(held) - nheld < sizeof(msg) + LINE_EXTRA)
		log_flush();
	room = sizeof(held) - nheld;
	len = snprintf(held + nheld, room, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: %s\n",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, ts.tv_nsec / 1000000, log_ident, level_names[level], msg);
	if (len > 0)
		nheld += (size_t)len < room ? (size_t)len : room - 1;
	if (!batching)
		log_flush();
}

void
log_batch(int on)
{
	static int at_exit;

	log_flush();
	batching = on;
	/* whatever way the process ends, held lines are written */
	if (on && !at_exit && atexit(log_flush) == 0)
		at_exit = 1;
}

void
log_flush(void)
{
	size_t done = 0;

	while (done < nheld) {
		ssize_t w = write(STDERR_FILENO, held + done, nheld - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;	/* stderr is gone: nothing better to do with the lines */
		done += (size_t)w;
	}
	nheld = 0;
}

#define LOG_FN(name, level) \
void \
name(const char *fmt, ...) \
{ \
	va_list ap; \
\
	va_start(ap, fmt); \
	log_emit(level, fmt, ap); \
	va_end(ap); \
}

LOG_FN(log_error, LOG_LEVEL_ERROR)
LOG_FN(log_warn, LOG_LEVEL_WARN)
LOG_FN(log_info, LOG_LEVEL_INFO)
LOG_FN(log_debug, LOG_LEVEL_DEBUG)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	log_flush();
	exit(1);
}
