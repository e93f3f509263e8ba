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

{#- The current deliveries (loaded, not superseded) of one source, whether or not they
    brought rows: the register's entries for the source whose raw table is
    ``table_name`` (a source of one table, named as its table, like school_enrolments;
    for a source of several tables, such as ijw_messages, it finds nothing). The table is named in a comment so that dbt's graph ties the model
    to it: a new delivery of the source changes that table's state
    (orchestration/defs/warehouse/affected.py), and deliveries of other sources do not
    reach the model. -#}
{% macro current_deliveries(table_name) %}
    -- depends_on: {{ source('raw', table_name) }}
    select *
    from {{ source('raw', 'deliveries') }}
    where source = '{{ table_name }}' and status = 'loaded' and is_current
{% endmacro %}
