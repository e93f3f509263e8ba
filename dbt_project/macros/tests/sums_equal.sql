{#- Fails when the sum of a column differs from the sum of a column in another model,
    e.g. declared cost in a mart against the netted declaration lines it came from. -#}
{% test sums_equal(model, column_name, compare_model, compare_column, tolerance=0) %}
    with ours as (select coalesce(sum({{ column_name }}), 0) as total from {{ model }}),
         theirs as (select coalesce(sum({{ compare_column }}), 0) as total from {{ compare_model }})
    select ours.total as model_total, theirs.total as compare_total
    from ours cross join theirs
    where abs(ours.total - theirs.total) > {{ tolerance }}
{% endtest %}
