/*
 * fuzz_local.c — the local API request frame as ketend parses it
 * (local_request_parse), and the response frame as the client library
 * unpacks it.
 */
#include <stddef.h>
#include <stdint.h>

#include "local.h"
#include "local.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Keten__V1__LocalRequest *rq = NULL;
	Keten__V1__LocalResponse *rs;

	if (local_request_parse(data, size, &rq) == 0)
		keten__v1__local_request__free_unpacked(rq, NULL);
	if ((rs = keten__v1__local_response__unpack(NULL, size, data)) != NULL)
		keten__v1__local_response__free_unpacked(rs, NULL);
	return 0;
}
