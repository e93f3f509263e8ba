{#- Fails with the duplicated key values when a combination of columns is not unique
    (written here because the dbt package hub, and so dbt_utils, is not reachable). -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
    {%- set columns = combination_of_columns | join(', ') -%}
    select {{ columns }}, count(*) as occurrences
    from {{ model }}
    group by {{ columns }}
    having count(*) > 1
{% endtest %}
