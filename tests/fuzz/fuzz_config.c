/*
 * fuzz_config.c — ketend.conf parsing (config_parse_buffer(), the parser
 * behind config_load()) on arbitrary bytes: an error message or a
 * configuration, never a crash, a leak or an unterminated message.  The
 * permission checks of what was loaded run too.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c = NULL;
	char err[512];
	int r;

	r = config_parse_buffer("/etc/keten/ketend.conf", (const char *)data, size, &c, err,
	    sizeof(err));
	if (r != 0) {
		/* Every failure says why, NUL-terminated within the buffer. */
		if (c != NULL || memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0')
			__builtin_trap();
		return 0;
	}
	for (size_t i = 0; i < c->nlocals; i++) {
		const struct config_local *l = config_local_find(c, c->locals[i].name);

		if (l != &c->locals[i])
			__builtin_trap();
		for (int k = -1; k < 34; k++) {
			(void)config_local_may_receive(l, k);
			(void)config_local_may_send(l, k, l->npurposes ? l->purposes[0] : "x");
		}
	}
	config_destroy(&c);
	return 0;
}
