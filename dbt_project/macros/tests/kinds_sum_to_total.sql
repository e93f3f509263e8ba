{#- Fails with every row whose per-kind columns (<column_name>_<kind> for each kind of
    macro kinds_of_care) do not add up to the column itself, e.g. new_referrals against
    new_referrals_jeugdzorg + new_referrals_youth_mental_health + ...; plus
    ``unspecified_column`` when given (referrals that name no product category). -#}
{% test kinds_sum_to_total(model, column_name, unspecified_column=none) %}
    select *
    from {{ model }}
    where {{ column_name }} <> {% for kind in kinds_of_care() %}{{ column_name }}_{{ kind }}{% if not loop.last %} + {% endif %}{% endfor %}{% if unspecified_column %} + {{ unspecified_column }}{% endif %}
       or {{ column_name }} is null
{% endtest %}
