{#- Before the body of a CTE that is read more than once and is cheap to compute again
    (a filtered scan): asks the database to inline it instead of writing it out.
    DuckDB and PostgreSQL materialize such a CTE; for fct_pupil_month's panel (62 million
    pupil-months at the ZH+NH pool) that write and its two scans were 28% of the model
    (186.6 -> 135.0 s). Spark SQL has no such keyword and inlines CTEs already. -#}
{% macro inline_cte() -%}
    {{ return(adapter.dispatch('inline_cte', 'pilotmonitor')()) }}
{%- endmacro %}

{% macro default__inline_cte() -%}
{%- endmacro %}

{% macro duckdb__inline_cte() -%}
    not materialized
{%- endmacro %}

{% macro postgres__inline_cte() -%}
    not materialized
{%- endmacro %}
