{#- Column types. Models, contracts (data_type in the marts' YAML) and seed column types
    use portable SQL type names: varchar, integer, bigint, double precision, date,
    timestamp, boolean. DuckDB and PostgreSQL take them as written; Spark SQL spells two
    of them differently (string, double) and takes no varchar without a length, so on
    Spark the names are translated here, once, instead of in every YAML file. -#}

{#- The 8-byte floating-point type (dbt.type_float() is 4 bytes on DuckDB and Spark). -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'pilotmonitor')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro spark__type_double() -%}
    double
{%- endmacro %}

{#- The contracts' varchar (dbt.type_string() is text on PostgreSQL, where text and varchar
    are different types to an incremental build's comparison of its new rows with its table). -#}
{% macro type_varchar() -%}
    {{ return(adapter.dispatch('type_varchar', 'pilotmonitor')()) }}
{%- endmacro %}

{% macro default__type_varchar() -%}
    varchar
{%- endmacro %}

{% macro spark__type_varchar() -%}
    string
{%- endmacro %}

{#- A portable type name as Spark SQL spells it (other names unchanged). -#}
{% macro spark_type_name(data_type) -%}
    {%- set spark_names = {
        'varchar': 'string',
        'text': 'string',
        'double precision': 'double',
        'integer': 'int',
    } -%}
    {{- return(spark_names.get(data_type | trim | lower, data_type)) -}}
{%- endmacro %}

{#- Contracts on Spark: the YAML's data types are cast on the engine to learn what they
    are (dbt's get_empty_schema_sql), so they are translated first; the comparison with
    the model's columns is then dbt's own. -#}
{% macro spark__get_empty_schema_sql(columns) -%}
    {%- set translated = {} -%}
    {%- for name in columns -%}
        {%- set column = columns[name] -%}
        {%- do translated.update({name: {
            'name': column['name'],
            'data_type': spark_type_name(column['data_type']) if column['data_type'] is not none else none,
            'quote': column.get('quote'),
        }}) -%}
    {%- endfor -%}
    {{ return(dbt.default__get_empty_schema_sql(translated)) }}
{%- endmacro %}

{#- Seeds on Spark: the column types of _seeds.yml, translated before dbt-spark creates
    and fills the table. -#}
{% macro translate_seed_column_types(model) -%}
    {%- set column_types = model['config'].get('column_types') or {} -%}
    {%- for name in column_types -%}
        {%- do column_types.update({name: spark_type_name(column_types[name])}) -%}
    {%- endfor -%}
{%- endmacro %}

{% macro spark__create_csv_table(model, agate_table) -%}
    {%- do translate_seed_column_types(model) -%}
    {{ return(dbt.spark__create_csv_table(model, agate_table)) }}
{%- endmacro %}

{#- Seed rows on Spark. dbt-spark binds each value as parameter, which its session mode
    puts into the statement as '<value>' without escaping: a quote breaks the statement
    (Euro's in ijw_units) and an empty cell becomes the text 'None'. Here the values are
    written as Spark SQL literals (backslash escapes, null), which every connection
    method takes. -#}
{% macro spark__load_csv_rows(model, agate_table) -%}
    {%- do translate_seed_column_types(model) -%}
    {%- set column_types = model['config'].get('column_types') or {} -%}
    {%- set types = [] -%}
    {%- for name in agate_table.column_names -%}
        {%- do types.append(column_types.get(name, adapter.convert_type(agate_table, loop.index0))) -%}
    {%- endfor -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(get_batch_size()) -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                ({%- for value in row -%}cast({{ spark_literal(value) }} as {{ types[loop.index0] }}){%- if not loop.last %},{% endif -%}{%- endfor -%}){%- if not loop.last %},{% endif %}
            {% endfor %}
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- if loop.first -%}{%- do statements.append(sql) -%}{%- endif -%}
    {%- endfor -%}
    {{ return(statements[0] if statements else '') }}
{%- endmacro %}

{% macro spark_literal(value) -%}
    {%- if value is none -%}null
    {%- elif value is sameas true -%}true
    {%- elif value is sameas false -%}false
    {%- elif value is number -%}{{ value }}
    {%- else -%}'{{ value | string | replace('\\', '\\\\') | replace("'", "\\'") }}'
    {%- endif -%}
{%- endmacro %}

{#- A sum of euro amounts, exact to the cent: a sum of doubles depends on the order the engine
    adds them in (DuckDB and PostgreSQL differed in the last digit), a sum of decimals does not. -#}
{% macro sum_euros(expression) -%}
    cast(sum(cast({{ expression }} as decimal(18, 2))) as {{ type_double() }})
{%- endmacro %}
