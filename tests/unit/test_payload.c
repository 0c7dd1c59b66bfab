/*
 * test_payload.c — the JSON <-> protobuf mapping of payloads: every kind
 * round-trips, errors name the field path, strictness (unknown fields,
 * wrong types, out-of-range numbers, bad base64, unknown enum names).
 */
#include <string.h>

#include <jansson.h>

#include "envelope.pb-c.h"
#include "err.h"
#include "payload.h"
#include "util.h"
#include "payload.pb-c.h"
#include "tap.h"

static const char *const dossier_json =
    "{\"person\":{\"v_number\":\"1234567890\",\"family_name\":\"Example\","
    "\"given_names\":\"Test\",\"birth_date\":\"1990-01-01\",\"nationalities\":[\"XXA\",\"SYR\"]},"
    "\"procedures\":[{\"type\":\"asylum\",\"decision\":\"rejected\",\"date\":\"2025-03-01\"},"
    "{\"type\":\"appeal\",\"decision\":\"rejected\",\"date\":\"2026-01-15\"}],"
    "\"return_status\":\"in progress\",\"medical_urgency\":true,"
    "\"attachments\":[{\"name\":\"a.pdf\",\"media_type\":\"application/pdf\",\"content\":\"JVBERi0=\"}]}";

static void
roundtrip(int kind, const char *text)
{
	json_error_t jerr;
	json_t *in = json_loads(text, 0, &jerr), *back;
	uint8_t *pb = NULL;
	size_t len = 0;
	char err[256] = "";

	CHECK(in != NULL);
	CHECK_EQ(payload_from_json(kind, in, &pb, &len, err, sizeof(err)), 0);
	if (err[0])
		fprintf(stderr, "  %s\n", err);
	CHECK_EQ(payload_validate(kind, pb, len), 0);
	back = payload_to_json(kind, pb, len);
	CHECK(back != NULL && json_equal(in, back));
	json_decref(back);
	json_decref(in);
	free(pb);
}

static void
test_roundtrip_every_kind(void)
{
	roundtrip(KETEN__V1__KIND__DOSSIER_DELIVERY, dossier_json);
	roundtrip(KETEN__V1__KIND__DTV_NOTIFICATION,
	    "{\"person\":{\"v_number\":\"1\"},\"reason\":\"PHASE_CHANGE\",\"phase\":\"shelter\"}");
	roundtrip(KETEN__V1__KIND__ESCALATION_REQUEST,
	    "{\"question\":\"stuck\",\"involved_parties\":[\"00000001999000020000\"],\"urgency\":\"urgent\"}");
	roundtrip(KETEN__V1__KIND__ESCALATION_DECISION,
	    "{\"outcome\":\"ADVICE\",\"text\":\"advice\",\"actions\":[\"a\",\"b\"]}");
	roundtrip(KETEN__V1__KIND__CASE_EVENT,
	    "{\"type\":\"OUTCOME\",\"outcome\":\"RETURN\",\"effective_date\":\"2026-11-01\"}");
	roundtrip(KETEN__V1__KIND__POLICE_NOTIFICATION,
	    "{\"person\":{\"v_number\":\"2\"},\"lvv_location\":\"Utrecht\"}");
}

static void
expect_error(int kind, const char *text, int code, const char *path)
{
	json_error_t jerr;
	json_t *in = json_loads(text, JSON_DECODE_ANY, &jerr);
	uint8_t *pb = NULL;
	size_t len;
	char err[256] = "";

	CHECK(in != NULL);
	CHECK_EQ(payload_from_json(kind, in, &pb, &len, err, sizeof(err)), code);
	CHECK(pb == NULL);
	if (path != NULL && strncmp(err, path, strlen(path)) != 0) {
		fprintf(stderr, "  got \"%s\", expected path %s\n", err, path);
		CHECK(0);
	}
	json_decref(in);
}

static void
test_errors(void)
{
	int k = KETEN__V1__KIND__DOSSIER_DELIVERY;

	expect_error(k, "{\"nope\":1}", KETEN_EPARSE, "nope: unknown field");
	expect_error(k, "{\"person\":{\"v_number\":5}}", KETEN_EPARSE, "person.v_number: expected a string");
	expect_error(k, "{\"procedures\":[{\"type\":\"x\"},{\"date\":[]}]}", KETEN_EPARSE,
	    "procedures[1].date");
	expect_error(k, "{\"medical_urgency\":\"yes\"}", KETEN_EPARSE, "medical_urgency");
	expect_error(k, "{\"attachments\":[{\"content\":\"***\"}]}", KETEN_EPARSE,
	    "attachments[0].content: not valid base64");
	expect_error(k, "[]", KETEN_EPARSE, "(top): expected an object");
	expect_error(KETEN__V1__KIND__CASE_EVENT, "{\"type\":\"NOT_A_TYPE\"}", KETEN_EPARSE,
	    "type: unknown enum value");
	expect_error(KETEN__V1__KIND__CASE_EVENT, "{\"person\":[]}", KETEN_EPARSE, "person");
	expect_error(99, "{}", KETEN_EINVAL, NULL);
	/* what each kind requires, named */
	expect_error(k, "{}", KETEN_EFIELD, "person.v_number (or person.bsn): required");
	expect_error(k, "{\"person\":{\"family_name\":\"X\"}}", KETEN_EFIELD, "person.v_number");
	expect_error(KETEN__V1__KIND__DTV_NOTIFICATION, "{\"person\":{\"bsn\":\"1\"}}", KETEN_EFIELD,
	    "reason: required");
	expect_error(KETEN__V1__KIND__ESCALATION_REQUEST, "{\"urgency\":\"urgent\"}", KETEN_EFIELD,
	    "question: required");
	expect_error(KETEN__V1__KIND__ESCALATION_DECISION, "{\"text\":\"t\"}", KETEN_EFIELD,
	    "outcome: required");
	expect_error(KETEN__V1__KIND__CASE_EVENT, "{}", KETEN_EFIELD, "type: required");
	expect_error(KETEN__V1__KIND__POLICE_NOTIFICATION, "{\"remarks\":\"r\"}", KETEN_EFIELD,
	    "person.v_number");
	/* and in bytes, as a node checks them */
	CHECK_EQ(payload_validate(KETEN__V1__KIND__DOSSIER_DELIVERY, (const uint8_t *)"", 0),
	    KETEN_EFIELD);
	CHECK_EQ(payload_validate(KETEN__V1__KIND__CASE_EVENT, (const uint8_t *)"\xff\xff", 2),
	    KETEN_EPARSE);
	/* an unknown field number in otherwise valid bytes */
	CHECK_EQ(payload_validate(KETEN__V1__KIND__CASE_EVENT, (const uint8_t *)"\xf8\x01\x01", 3),
	    KETEN_EPARSE);
	CHECK(payload_to_json(KETEN__V1__KIND__CASE_EVENT, (const uint8_t *)"\xff", 1) == NULL);
}

/* Well-formed UTF-8 by the table of the Unicode standard (3.9, table
 * 3-7), written here apart from utf8_ok; text also refuses C0, DEL, C1. */
static int
utf8_reference(const unsigned char *s, int text)
{
	static const struct { unsigned char lo[4], hi[4]; int n; } row[] = {
		{ { 0xc2, 0x80 }, { 0xdf, 0xbf }, 2 },
		{ { 0xe0, 0xa0, 0x80 }, { 0xe0, 0xbf, 0xbf }, 3 },
		{ { 0xe1, 0x80, 0x80 }, { 0xec, 0xbf, 0xbf }, 3 },
		{ { 0xed, 0x80, 0x80 }, { 0xed, 0x9f, 0xbf }, 3 },
		{ { 0xee, 0x80, 0x80 }, { 0xef, 0xbf, 0xbf }, 3 },
		{ { 0xf0, 0x90, 0x80, 0x80 }, { 0xf0, 0xbf, 0xbf, 0xbf }, 4 },
		{ { 0xf1, 0x80, 0x80, 0x80 }, { 0xf3, 0xbf, 0xbf, 0xbf }, 4 },
		{ { 0xf4, 0x80, 0x80, 0x80 }, { 0xf4, 0x8f, 0xbf, 0xbf }, 4 },
	};

	while (*s) {
		size_t r, k;

		if (*s < 0x80) {
			if (text && (*s < 0x20 || *s == 0x7f))
				return 0;
			s++;
			continue;
		}
		for (r = 0; r < sizeof(row) / sizeof(row[0]); r++) {
			for (k = 0; k < (size_t)row[r].n; k++)
				if (s[k] < row[r].lo[k] || s[k] > row[r].hi[k])
					break;
			if (k == (size_t)row[r].n)
				break;
		}
		if (r == sizeof(row) / sizeof(row[0]))
			return 0;
		if (text && s[0] == 0xc2 && s[1] <= 0x9f)
			return 0;	/* C1 */
		s += row[r].n;
	}
	return 1;
}

/* utf8_ok skips ASCII a word at a time: every sequence, good or bad, at
 * every offset from a word boundary and with ASCII after it, gets the
 * reference's verdict, in text and outside it. */
static void
test_utf8_offsets(void)
{
	static const char *const seq[] = {
		"\xc3\xbc", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf", "\xc2\x85",
		"\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
		"\xf5\x80\x80\x80", "\x80", "\xbf", "\xc3", "\xe2\x82", "\xf0\x9f\x98", "\xff",
		"\xfe", "\x01", "\x1f", "\x7f", "\xc3\xbc\xc3", "\xe2\x82\xac\x80",
	};
	char s[64];
	int wrong = 0, checked = 0;

	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++)
		for (size_t pre = 0; pre <= 17; pre++)
			for (size_t post = 0; post <= 9; post++) {
				size_t n = strlen(seq[i]);

				memset(s, 'a', pre);
				memcpy(s + pre, seq[i], n);
				memset(s + pre + n, 'b', post);
				s[pre + n + post] = '\0';
				for (int text = 0; text <= 1; text++) {
					wrong += utf8_ok(s, text) !=
					    utf8_reference((const unsigned char *)s, text);
					checked++;
				}
			}
	CHECK_EQ(wrong, 0);
	CHECK(checked > 8000);
	CHECK(utf8_ok("", 0) && utf8_ok("", 1));
}

/* Text that is not UTF-8 (a system writing Windows-1252, say) is refused
 * where a payload is checked, in a field or in a list: the receiving
 * system could not be shown it. */
static void
test_not_utf8(void)
{
	static const char *const names[] = { "T\xfcR", "Mu\xcc\x88ller \xe2\x82", "\xc0\xaf",
	    "\xed\xa0\x80" };
	Keten__V1__DossierDelivery dd = KETEN__V1__DOSSIER_DELIVERY__INIT;
	Keten__V1__Person pe = KETEN__V1__PERSON__INIT;
	char *nat[3] = { "NLD", NULL, "SYR" };
	uint8_t buf[512];
	size_t n;

	dd.person = &pe;
	pe.v_number = "1234567890";
	pe.family_name = "M\xc3\xbcller";	/* UTF-8 */
	n = keten__v1__dossier_delivery__pack(&dd, buf);
	CHECK_EQ(payload_validate(KETEN__V1__KIND__DOSSIER_DELIVERY, buf, n), 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		pe.family_name = (char *)names[i];
		n = keten__v1__dossier_delivery__pack(&dd, buf);
		CHECK_EQ(payload_validate(KETEN__V1__KIND__DOSSIER_DELIVERY, buf, n), KETEN_EPARSE);
	}
	pe.family_name = "Voorbeeld";
	nat[1] = "T\xfcR";
	pe.nationalities = nat;
	pe.n_nationalities = 3;
	n = keten__v1__dossier_delivery__pack(&dd, buf);
	CHECK_EQ(payload_validate(KETEN__V1__KIND__DOSSIER_DELIVERY, buf, n), KETEN_EPARSE);
	/* nor is it shown: no element left out of a list */
	CHECK(payload_to_json(KETEN__V1__KIND__DOSSIER_DELIVERY, buf, n) == NULL);
}

int
main(void)
{
	static const struct tap_test tests[] = {
		{ "payload_json_roundtrip_every_kind", test_roundtrip_every_kind },
		{ "payload_json_errors_name_the_field", test_errors },
		{ "text that is not UTF-8 is refused, in a field and in a list", test_not_utf8 },
		{ "UTF-8 checked a word at a time: the reference's verdict at every offset",
		    test_utf8_offsets },
		{ NULL, NULL },
	};

	return tap_run(tests);
}
