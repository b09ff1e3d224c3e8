/*
 * test_errors.c: versions and error objects: bpekit_version and bpekit_abi_version, the
 * error accessors (on NULL and on a real failure), every _free accepting NULL.
 */
#include "harness.h"

static void test_version(void)
{
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", BPEKIT_VERSION_MAJOR, BPEKIT_VERSION_MINOR,
             BPEKIT_VERSION_PATCH);
    const char *v = bpekit_version();
    CHECK(v != NULL);
    CHECK(v != NULL && strcmp(v, want) == 0);
    CHECK(bpekit_version() == v); /* static: the same string every time */
    CHECK(bpekit_abi_version() == BPEKIT_ABI_VERSION);
}

static void test_error_accessors_and_frees(void)
{
    CHECK(bpekit_error_code(NULL) == BPEKIT_OK);
    CHECK(bpekit_error_message(NULL) != NULL);
    CHECK(bpekit_error_message(NULL) != NULL && bpekit_error_message(NULL)[0] == '\0');

    /* Every _free accepts NULL. */
    bpekit_error_free(NULL);
    bpekit_tokens_free(NULL);
    bpekit_bytes_free(NULL);
    bpekit_tokenizer_free(NULL);
    bpekit_trainer_free(NULL);

    /* Freeing a zeroed buffer does nothing, any number of times. */
    bpekit_tokens zt = {0};
    bpekit_bytes zb = {0};
    bpekit_tokens_free(&zt);
    bpekit_tokens_free(&zt);
    bpekit_bytes_free(&zb);
    bpekit_bytes_free(&zb);
    CHECK(zt.ids == NULL && zt.len == 0);
    CHECK(zb.data == NULL && zb.len == 0);

    /* An error from a real failure: code and message, message stable until freed. */
    bpekit_trainer *t = SENTINEL;
    bpekit_error *err = NULL;
    bpekit_status st = bpekit_trainer_new(U8("("), 1, &t, &err);
    CHECK(st == BPEKIT_ERR_BAD_PATTERN);
    CHECK(err != NULL);
    CHECK(bpekit_error_code(err) == BPEKIT_ERR_BAD_PATTERN);
    CHECK(bpekit_error_message(err) != NULL && bpekit_error_message(err)[0] != '\0');
    CHECK(bpekit_error_message(err) == bpekit_error_message(err));
    CHECK(t == SENTINEL);
    bpekit_error_free(err);
}

const struct test errors_tests[] = {
    TEST(test_version),
    TEST(test_error_accessors_and_frees),
    {NULL, NULL},
};
