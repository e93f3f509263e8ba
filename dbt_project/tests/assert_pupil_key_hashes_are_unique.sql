{{ config(meta={'dagster': {'ref': {'name': 'fct_pupil_month'}}}) }}
-- fct_pupil_month joins absence to the panel on a 64-bit hash of the pupil pseudonym
-- (macro key_hash). Two pupils with one hash would get each other's absence: at 1.5
-- million pupils a chance of about 1 in 10 million per build, and never silent: this
-- test fails (and blocks publication) if any two pupils of the panel or the absence
-- records share a hash. An asset check of fct_pupil_month, so it depends on it:
-- depends_on: {{ ref('fct_pupil_month') }}
with pupils as (
    select pupil_pseudonym from {{ ref('int_enrolment_spells') }}
    union
    select pupil_pseudonym from {{ ref('int_absence_pupil_months') }}
)

select {{ key_hash('pupil_pseudonym') }} as pupil_key, count(*) as pupils
from pupils
group by {{ key_hash('pupil_pseudonym') }}
having count(*) > 1
