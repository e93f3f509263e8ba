{#- The referrer types (COD327) that get their own column in the panel. Kept in step
    with the seed ijw_referrer_types by the test assert_referrer_columns_match_seed. -#}
{% macro referrer_types() %}
    {{ return([
        ('01', 'municipality'),
        ('02', 'general_practitioner'),
        ('03', 'youth_doctor'),
        ('04', 'certified_institution'),
        ('05', 'medical_specialist'),
        ('06', 'self_referral'),
        ('08', 'court'),
    ]) }}
{% endmacro %}
