{#- Fails with every row whose per-kind columns (<column_name>_<kind> for each kind of
    macro kinds_of_care) do not add up to the column itself, e.g. new_referrals against
    new_referrals_jeugdzorg + new_referrals_youth_mental_health + ... -#}
{% test kinds_sum_to_total(model, column_name) %}
    select *
    from {{ model }}
    where {{ column_name }} <> {% for kind in kinds_of_care() %}{{ column_name }}_{{ kind }}{% if not loop.last %} + {% endif %}{% endfor %}
       or {{ column_name }} is null
{% endtest %}
