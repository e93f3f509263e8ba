{#- Layers get their own schema under their plain name (staging, intermediate, marts,
    reference) instead of dbt's default <target>_<custom> prefix: analyses and
    notebooks query marts.fct_pupil_month on every target. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
