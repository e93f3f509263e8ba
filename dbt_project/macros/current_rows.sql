{#- Rows of a raw table that come from current deliveries only: loaded (not failed or
    a duplicate file) and not superseded by a later delivery for the same slot. The
    delivery date and registration time come along so later models can prefer the
    newest information when the same fact arrives in several deliveries. -#}
{% macro current_rows(table_name) %}
    select
        raw_rows.*,
        current_deliveries.delivered_on as delivered_on,
        current_deliveries.registered_at as delivery_registered_at
    from {{ source('raw', table_name) }} as raw_rows
    inner join (
        select delivery_id, max(delivered_on) as delivered_on, max(registered_at) as registered_at
        from {{ source('raw', 'deliveries') }}
        where status = 'loaded' and is_current
        group by delivery_id
    ) as current_deliveries
        on current_deliveries.delivery_id = raw_rows.delivery_id
{% endmacro %}
