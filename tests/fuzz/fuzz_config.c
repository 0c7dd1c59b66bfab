/*
 * fuzz_config.c — ketend.conf parsing (config_parse_buffer) on arbitrary
 * bytes: an error message or a configuration, never a crash or a leak.
 */
#include <stddef.h>
#include <stdint.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c = NULL;
	char err[512];

	if (config_parse_buffer("/etc/keten/ketend.conf", (const char *)data, size, &c, err,
	    sizeof(err)) == 0)
		config_destroy(&c);
	return 0;
}
