/*
 * fuzz_payload.c — libFuzzer harness for decrypted payload bytes: the
 * first byte picks the kind, the rest is decoded, validated and mapped to
 * JSON as a subscriber's delivery would be.
 */
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "payload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j;

	if (size < 1)
		return 0;
	(void)payload_validate(data[0] % 8, data + 1, size - 1);
	if ((j = payload_to_json(data[0] % 8, data + 1, size - 1)) != NULL) {
		char *s = json_dumps(j, 0);

		free(s);
		json_decref(j);
	}
	return 0;
}
