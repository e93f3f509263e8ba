{#- The median of an expression in an aggregate: DuckDB's median(), PostgreSQL's
    percentile_cont ordered-set aggregate elsewhere. -#}
{% macro median_of(expression) -%}
    {{ return(adapter.dispatch('median_of', 'pilotmonitor')(expression)) }}
{%- endmacro %}

{% macro default__median_of(expression) -%}
    percentile_cont(0.5) within group (order by {{ expression }})
{%- endmacro %}

{% macro duckdb__median_of(expression) -%}
    median({{ expression }})
{%- endmacro %}
