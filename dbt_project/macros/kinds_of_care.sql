{#- The kinds of care that get their own referral and cost columns in the panel
    (new_referrals_<kind>, declared_cost_cents_<kind>), in report order. Which product
    category is which kind is the seed ijw_product_categories (JZ020); the test
    assert_kind_columns_match_seed keeps this list equal to the kinds used there. -#}
{% macro kinds_of_care() %}
    {{ return(['jeugdzorg', 'youth_mental_health', 'intensive_with_stay']) }}
{% endmacro %}
