// Journeys of a template (a definition with parameters_schema) in the web UI:
// the launch page draws a form from the schema, the API's 400 lands at the
// parameter's field with nothing launched, Preview renders the command
// (dry_run), and the run shows the params it ran with.
import assert from 'node:assert/strict';

const schema = {
  type: 'object',
  properties: {
    day: { type: 'string', format: 'date', title: 'Day to load', description: 'The partition to read' },
    mode: { type: 'string', enum: ['full', 'delta'], default: 'delta', title: 'Mode' },
    count: { type: 'integer', minimum: 1, default: 1, title: 'Count', description: 'How many passes' },
    note: { type: 'string', title: 'Note', default: '' },
    loud: { type: 'boolean', default: false, title: 'Loud' },
  },
  required: ['day'],
};

/**
 * templateJourneys registers the journeys; h gives the harness's page,
 * server URL, API helper and screenshot helper (set once the suite starts).
 */
export function templateJourneys(journey, h) {
  const tpl = `e2e-template-${Date.now().toString(36)}`;
  const command = `printf '[%s]' {{ .params.day }} {{ .params.mode }} {{ .params.note }}; echo " count={{ .params.count }}{{ if .params.loud }} LOUD{{ end }}"`;

  journey('draws a launch form from a parameters schema, with the API errors at the field', { timeout: 30_000 }, async () => {
    const page = h.page();
    // Made in the definition form: a schema the API refuses is named where it is wrong.
    await page.goto(`${h.url()}/definitions/new`);
    await page.getByLabel('Alias').fill(tpl);
    await page.getByLabel('Image').fill('alpine:3');
    await page.getByLabel('Command', { exact: true }).fill(command);
    const schemaBox = page.getByLabel('Parameters schema (JSON)');
    await schemaBox.fill(JSON.stringify({ type: 'object', properties: { day: { type: 'object' } } }));
    await page.getByRole('button', { name: 'Create definition' }).click();
    await page.locator('.field-invalid .field-error').first().waitFor();
    assert.equal(await schemaBox.getAttribute('aria-invalid'), 'true');
    assert.match(await page.locator('.field-invalid .field-error').first().textContent(), /parameters_schema\.properties\.day\.type/);
    assert.equal((await h.api(`/v1/definitions/${tpl}`)).status, 404, 'a refused definition is not stored');
    await schemaBox.fill(JSON.stringify(schema, null, 2));
    await page.getByRole('button', { name: 'Create definition' }).click();
    await page.getByRole('heading', { name: tpl, level: 1 }).waitFor();
    await page.getByText('day: string (required)').waitFor();
    await h.shot('29-template-definition');
    await page.getByRole('link', { name: 'Launch', exact: true }).click();
    await page.getByRole('heading', { name: `Launch ${tpl}` }).waitFor();
    const params = page.getByRole('group', { name: 'Parameters' });
    // Labels from titles (required marked), descriptions as hints, enums as selects, booleans as checkboxes.
    const day = params.getByLabel('Day to load *');
    assert.equal(await day.getAttribute('type'), 'date');
    assert.match(await params.getByText(/The partition to read/).textContent(), /Format: date/);
    const mode = params.getByLabel('Mode');
    assert.equal(await mode.evaluate((el) => el.tagName), 'SELECT');
    assert.equal(await mode.inputValue(), 'delta');
    assert.deepEqual(await mode.locator('option').allTextContents(), ['default (delta)', 'full', 'delta']);
    const count = params.getByLabel('Count');
    assert.equal(await count.inputValue(), '1');
    await params.getByText(/How many passes · A whole number ≥ 1/).waitFor();
    const loud = params.getByLabel('Loud');
    assert.equal(await loud.getAttribute('type'), 'checkbox');
    assert.equal(await loud.isChecked(), false);
    await h.shot('30-template-launch-form');

    // count 0 is below the minimum: the API's 400 is shown at Count, and nothing runs.
    const before = (await h.api('/v1/runs?limit=500')).body.items.length;
    await day.fill('2026-12-05');
    await count.fill('0');
    await page.getByRole('button', { name: 'Launch', exact: true }).click();
    await params.locator('.field-invalid .field-error').first().waitFor();
    assert.equal(await count.getAttribute('aria-invalid'), 'true');
    const described = await count.getAttribute('aria-describedby');
    const message = await page.locator(`[id="${described.split(' ').find((id) => id.endsWith('-err'))}"]`).textContent();
    assert.match(message ?? '', /minimum|>= 1|should be/i);
    assert.equal(await day.getAttribute('aria-invalid'), null, 'only the bad parameter is marked');
    assert.equal((await h.api('/v1/runs?limit=500')).body.items.length, before, 'a refused launch stores nothing');
    await h.shot('31-template-param-error');
  });

  journey('previews the rendered command, launches it, and shows the params on the run', { timeout: 60_000 }, async () => {
    const page = h.page();
    const params = page.getByRole('group', { name: 'Parameters' });
    await params.getByLabel('Count').fill('3');
    await params.getByLabel('Mode').selectOption('full');
    await params.getByLabel('Note').fill(`it's "quoted"; $(echo no)`);
    await params.getByLabel('Loud').check();
    const before = (await h.api('/v1/runs?limit=500')).body.items.length;
    await page.getByRole('button', { name: 'Preview command' }).click();
    const rendered = page.getByRole('status', { name: 'Rendered command' });
    await rendered.waitFor();
    assert.equal(
      await rendered.locator('pre').textContent(),
      `printf '[%s]' '2026-12-05' 'full' 'it'\\''s "quoted"; $(echo no)'; echo " count=3 LOUD"`,
    );
    assert.equal((await h.api('/v1/runs?limit=500')).body.items.length, before, 'a preview stores nothing');
    await h.shot('32-template-preview');

    await page.getByRole('button', { name: 'Launch', exact: true }).click();
    await page.waitForURL(/\/runs\/[^/]+$/);
    await page.waitForFunction(() => /^SUCCEEDED/.test(document.querySelector('[data-testid="status-line"]')?.textContent ?? ''), null, { timeout: 30_000 });
    assert.equal(
      await page.getByLabel('Params').textContent(),
      `count=3 day="2026-12-05" loud=true mode="full" note="it's \\"quoted\\"; $(echo no)"`,
    );
    await page.getByText(`[2026-12-05][full][it's "quoted"; $(echo no)] count=3 LOUD`).waitFor();
    await h.shot('33-template-run');
  });

  journey('a schedule of a template sets its params in the same form, checked by the API', { timeout: 30_000 }, async () => {
    const page = h.page();
    if ((await h.api('/v1/schedules')).status === 404) return; // the schedules journey says so plainly
    await page.goto(`${h.url()}/schedules`);
    await page.getByRole('button', { name: 'New schedule' }).click();
    const form = page.getByRole('form', { name: 'New schedule' });
    const name = `tpl-nightly-${Date.now().toString(36)}`;
    await form.getByLabel('Name', { exact: true }).fill(name);
    await form.getByLabel('Definition').fill(tpl);
    const params = form.getByRole('group', { name: 'Parameters' });
    await params.getByLabel('Day to load *').fill('2026-12-31');
    await params.getByLabel('Count').fill('0');
    await form.getByLabel('Expression').fill('rate(1 day)');
    await form.getByRole('button', { name: 'Create schedule' }).click();
    await params.locator('.field-invalid .field-error').first().waitFor();
    assert.equal(await params.getByLabel('Count').getAttribute('aria-invalid'), 'true');
    await params.getByLabel('Count').fill('2');
    await form.getByRole('button', { name: 'Create schedule' }).click();
    const row = page.getByRole('row', { name: new RegExp(name) });
    await row.waitFor();
    assert.equal(await row.getByLabel(`${name} params`).textContent(), 'count=2 day="2026-12-31" loud=false mode="delta"');
    await h.shot('34-template-schedule');
    const created = (await h.api('/v1/schedules')).body.items.find((x) => x.name === name);
    assert.deepEqual(created.params, { day: '2026-12-31', mode: 'delta', count: 2, loud: false });
    await h.api(`/v1/schedules/${created.schedule_id}`, { method: 'DELETE' });
  });
}
