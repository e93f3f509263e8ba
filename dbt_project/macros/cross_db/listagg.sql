{#- dbt.listagg on Spark. dbt-spark's own version ignores the order by clause (collect_list
    keeps no order), so the pilot's secondary outcomes (dim_pilot) and the registry
    fingerprint (int_registry_version) would depend on the query plan. This one keeps the
    order: it collects (key, value) pairs, sorts them and joins the values. The clause is
    the one the models write, `order by <one expression>` (ascending). -#}
{% macro spark__listagg(measure, delimiter_text, order_by_clause=none, limit_num=none) -%}
    {%- if not order_by_clause -%}
        {{ return(dbt.spark__listagg(measure, delimiter_text, order_by_clause, limit_num)) }}
    {%- endif -%}
    {%- set clause = order_by_clause | trim -%}
    {%- if not clause.lower().startswith('order by ') or ',' in clause or clause.lower().endswith(' desc') -%}
        {{ exceptions.raise_compiler_error("listagg on Spark takes `order by <one expression>` (ascending), not: " ~ order_by_clause) }}
    {%- endif -%}
    {%- set key = clause[9:] | trim -%}
    {%- set pairs -%}
        array_sort(collect_list(named_struct('key', {{ key }}, 'value', {{ measure }})))
    {%- endset -%}
    {%- set sorted_values -%}
        transform({{ pairs }}, pair -> pair.value)
    {%- endset -%}
    {%- if limit_num -%}
        {%- set sorted_values = 'slice(' ~ sorted_values ~ ', 1, ' ~ limit_num ~ ')' -%}
    {%- endif -%}
    {{ return('array_join(' ~ sorted_values ~ ', ' ~ delimiter_text ~ ')') }}
{%- endmacro %}
