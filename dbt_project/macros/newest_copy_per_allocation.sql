{#- The newest copy of each allocation's message (by message date, then delivery): a
    message delivered twice, in two deliveries, counts once. -#}
{% macro newest_copy_per_allocation(relation) %}
    select * from (
        select *, row_number() over (partition by municipality_code, allocation_number order by message_date desc, delivery_registered_at desc, row_locator) as copy_rank
        from {{ relation }}
    ) as copies where copy_rank = 1
{% endmacro %}
