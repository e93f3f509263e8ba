{#- A data test's `where` config with the placeholder __latest_build__ checks only the rows
    the latest build of an incremental fact wrote: those whose loaded_through (macro
    lineage_columns: one value per build) is the fact's newest. Earlier months were checked
    when they were built and a build leaves them as they are; a full build writes every row
    with one value, so it checks them all. For rules that hold row by row or per month
    (uniqueness of a key with month in it), not for rules over the whole table (sums,
    relationships to a table rebuilt whole). At the national pool a monthly build's tests of
    fct_pupil_month read 190 million rows for the 13 million it rebuilt.
    dbt renders a test's `where` without project macros, hence the placeholder, replaced
    here (dbt's documented way: override get_where_subquery). -#}
{% macro get_where_subquery(relation) -%}
    {% set where = config.get('where', '') %}
    {% if where %}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where | replace('__latest_build__', latest_build_rows(relation)) }}) dbt_subquery
        {%- endset -%}
        {% do return(filtered) %}
    {%- else -%}
        {% do return(relation) %}
    {%- endif -%}
{%- endmacro %}

{#- The condition for the rows of `relation` the latest build wrote; `column` names its
    loaded_through where the relation has an alias. -#}
{% macro latest_build_rows(relation, column='loaded_through') -%}
    {{ column }} = (select max(loaded_through) from {{ relation }})
{%- endmacro %}
