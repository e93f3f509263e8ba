{#- dbt's relationships test, with the child's keys made distinct before the join: one
    result row per key missing from `to`, with the number of rows that hold it. dbt's own
    joins every child row to the parent; for fct_pupil_month.school_id (178 million rows,
    7,000 schools at the national pool) that took 2.2 s warm and 7.9 s cold, the distinct
    keys first 0.8 s. Found before dbt's through the root project's place in the `dbt`
    dispatch order. -#}
{% macro default__test_relationships(model, column_name, to, field) %}
with child as (
    select {{ column_name }} as from_field, count(*) as child_rows
    from {{ model }}
    where {{ column_name }} is not null
    group by {{ column_name }}
),

parent as (
    select {{ field }} as to_field
    from {{ to }}
)

select child.from_field, child.child_rows
from child
left join parent on child.from_field = parent.to_field
where parent.to_field is null
{% endmacro %}
