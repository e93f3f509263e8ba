{#- Fails when a model has a different number of rows than another model (optionally
    filtered), e.g. one school-month row per distinct school and month of the panel. -#}
{% test row_count_equals(model, compare_model, compare_expression='count(*)') %}
    with ours as (select count(*) as n from {{ model }}),
         theirs as (select {{ compare_expression }} as n from {{ compare_model }})
    select ours.n as model_rows, theirs.n as compare_rows
    from ours cross join theirs
    where ours.n <> theirs.n
{% endtest %}
