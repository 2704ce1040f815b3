/* Stripe's form encoding (src/services/billing/stripe.c): nested keys with brackets, escaping
 * of keys and values, integers and booleans, arrays of objects, and what is refused. Plus the
 * Idempotency-Key derivation. */
#include "services/billing/stripe.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* Encodes the JSON text and compares with want (NULL: must be refused). */
static void check(const char *json, const char *want)
{
    json_error_t jerr;
    json_t *v = json_loads(json, JSON_DECODE_ANY, &jerr);
    assert_non_null(v);
    buf out;
    buf_init(&out, 1 << 16);
    int rc = stripe_form_encode(v, &out);
    if (want) {
        assert_int_equal(rc, 0);
        assert_string_equal(out.ptr ? out.ptr : "", want);
    } else {
        assert_int_equal(rc, -1);
    }
    buf_free(&out);
    json_decref(v);
}

static void test_flat(void **state)
{
    (void)state;
    check("{}", "");
    check("{\"mode\":\"subscription\"}", "mode=subscription");
    check("{\"email\":\"jane+1@example.org\",\"name\":\"Jane Doe\"}",
          "email=jane%2B1%40example.org&name=Jane+Doe");
    check("{\"quantity\":1,\"neg\":-42,\"big\":9007199254740993}",
          "quantity=1&neg=-42&big=9007199254740993");
    check("{\"cancel_at_period_end\":true,\"x\":false}", "cancel_at_period_end=true&x=false");
    /* null is Stripe's way to unset a field: an empty value. */
    check("{\"description\":null}", "description=");
    check("{\"empty\":\"\"}", "empty=");
}

static void test_nested(void **state)
{
    (void)state;
    check("{\"metadata\":{\"user_id\":\"u1\",\"plan\":\"standard\"}}",
          "metadata[user_id]=u1&metadata[plan]=standard");
    check("{\"line_items\":[{\"price\":\"price_123\",\"quantity\":1}]}",
          "line_items[0][price]=price_123&line_items[0][quantity]=1");
    check("{\"subscription_data\":{\"metadata\":{\"user_id\":\"u1\"}}}",
          "subscription_data[metadata][user_id]=u1");
    check("{\"expand\":[\"customer\",\"subscription\"]}",
          "expand[0]=customer&expand[1]=subscription");
    check("{\"a\":[[1,2],[3]]}", "a[0][0]=1&a[0][1]=2&a[1][0]=3");
    /* Empty containers contribute nothing; their siblings still get their separators. */
    check("{\"a\":{},\"b\":[],\"c\":\"x\"}", "c=x");
    check("{\"c\":\"x\",\"a\":{},\"d\":\"y\"}", "c=x&d=y");
    /* The whole checkout, in the order the keys were given. */
    check("{\"mode\":\"subscription\",\"line_items\":[{\"price\":\"price_S\",\"quantity\":1}],"
          "\"client_reference_id\":\"0190-ab\",\"success_url\":"
          "\"https://app.example/billing/success?session_id={CHECKOUT_SESSION_ID}\"}",
          "mode=subscription&line_items[0][price]=price_S&line_items[0][quantity]=1&"
          "client_reference_id=0190-ab&success_url=https%3A%2F%2Fapp.example%2Fbilling%2F"
          "success%3Fsession_id%3D%7BCHECKOUT_SESSION_ID%7D");
}

static void test_escaping(void **state)
{
    (void)state;
    /* Keys are escaped too; the brackets we add are not. */
    check("{\"metadata\":{\"a b&c=d[e]\":\"v\"}}", "metadata[a+b%26c%3Dd%5Be%5D]=v");
    check("{\"k\":\"caf\\u00e9 \\u00fc & 100%\"}", "k=caf%C3%A9+%C3%BC+%26+100%25");
    check("{\"k\":\"line1\\nline2\\r\\t\"}", "k=line1%0Aline2%0D%09");
    check("{\"k\":\"-_.~\"}", "k=-_.~");
}

static void test_refused(void **state)
{
    (void)state;
    check("[1,2]", NULL);
    check("\"text\"", NULL);
    check("{\"amount\":12.5}", NULL);
    check("{\"a\":{\"b\":[{\"c\":1.0}]}}", NULL);
    /* Nesting deeper than Stripe ever needs is refused rather than recursed into. */
    check("{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{\"i\":{\"j\":1}}}}}}}}}}",
          NULL);
    check("{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":1}}}}}}}}",
          "a[b][c][d][e][f][g][h]=1");
    assert_int_equal(stripe_form_encode(NULL, NULL), -1);
}

static void test_cap(void **state)
{
    (void)state;
    json_t *v = json_pack("{s:s}", "k", "0123456789");
    buf out;
    buf_init(&out, 8);
    assert_int_equal(stripe_form_encode(v, &out), -1);
    buf_free(&out);
    buf_init(&out, 12);
    assert_int_equal(stripe_form_encode(v, &out), 0);
    assert_string_equal(out.ptr, "k=0123456789");
    buf_free(&out);
    json_decref(v);
}

static void test_idempotency_key(void **state)
{
    (void)state;
    char a[STRIPE_IDEMPOTENCY_KEY_LEN], b[STRIPE_IDEMPOTENCY_KEY_LEN];
    stripe_idempotency_key("checkout", "user-1", "standard", "client-key-1", a);
    stripe_idempotency_key("checkout", "user-1", "standard", "client-key-1", b);
    assert_string_equal(a, b);
    assert_int_equal(strncmp(a, "praxis-checkout-", 16), 0);
    assert_int_equal(strlen(a), 16 + 32);
    /* Any part changing gives another key; parts do not run into each other. */
    const char *variants[][4] = {
        {"portal", "user-1", "standard", "client-key-1"},
        {"checkout", "user-2", "standard", "client-key-1"},
        {"checkout", "user-1", "premium", "client-key-1"},
        {"checkout", "user-1", "standard", "client-key-2"},
        {"checkout", "user-1standard", "", "client-key-1"},
        {"checkout", "user-1", NULL, "client-key-1"},
    };
    for (size_t i = 0; i < ARRAY_LEN(variants); i++) {
        stripe_idempotency_key(variants[i][0], variants[i][1], variants[i][2], variants[i][3], b);
        assert_string_not_equal(a, b);
    }
    /* A long operation name is cut, the key stays within Stripe's 255 characters. */
    stripe_idempotency_key("an-operation-name-that-goes-on", "u", NULL, NULL, b);
    assert_true(strlen(b) < STRIPE_IDEMPOTENCY_KEY_LEN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flat),        cmocka_unit_test(test_nested),
        cmocka_unit_test(test_escaping),    cmocka_unit_test(test_refused),
        cmocka_unit_test(test_cap),         cmocka_unit_test(test_idempotency_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
