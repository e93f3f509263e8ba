{#- In an aggregate, the value of an expression on the row where another is smallest:
    DuckDB's arg_min(), Spark's min_by(), elsewhere (PostgreSQL) the first element of an
    ordered array_agg. -#}
{% macro arg_min(expression, ordering) -%}
    {{ return(adapter.dispatch('arg_min', 'pilotmonitor')(expression, ordering)) }}
{%- endmacro %}

{% macro default__arg_min(expression, ordering) -%}
    (array_agg({{ expression }} order by {{ ordering }}))[1]
{%- endmacro %}

{% macro duckdb__arg_min(expression, ordering) -%}
    arg_min({{ expression }}, {{ ordering }})
{%- endmacro %}

{% macro spark__arg_min(expression, ordering) -%}
    min_by({{ expression }}, {{ ordering }})
{%- endmacro %}
