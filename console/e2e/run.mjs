// Browser tests of the console against the real server and agent binaries. A plain runner:
// the scenarios run in order in one browser (each builds on the one before), each saves a
// screenshot under e2e/screenshots/, and the last line is "N passed, N failed".
//
//   node e2e/run.mjs        (scripts/console-test.sh builds what it needs first)
import assert from 'node:assert/strict'
import { ADMIN, api, screenshots, shot, startAgent, startBrowser, startServer, until } from './harness.mjs'

const HOST = 'GPU-Server-E2E'
const CUSTOMER = { username: 'alice', email: 'alice@example.com', password: 'alice-password-1' }
const tests = []
const test = (name, fn) => tests.push({ name, fn })

let server
let browser
let agent
let page
let token = ''

/** Waits until no Element Plus dialog is showing (their fade-out included). */
async function dialogsClosed() {
  await page.waitForFunction(() =>
    [...document.querySelectorAll('.el-overlay')].every((o) => getComputedStyle(o).display === 'none'),
  )
}

/** Picks an option of an Element Plus select. */
async function choose(select, option) {
  await select.click()
  await page.locator('.el-select-dropdown:visible .el-select-dropdown__item', { hasText: option }).first().click()
}

test('an operator signs in', async () => {
  page = await browser.newPage()
  await page.goto(`${server.url}/`)
  await page.locator('[data-test=login-form]').waitFor()
  await page.locator('input[name=login]').fill(ADMIN.username)
  await page.locator('input[name=password]').fill(ADMIN.password)
  await page.locator('[data-test=sign-in]').click()
  await page.waitForURL('**/fleet')
  await page.locator('[data-test=whoami]', { hasText: ADMIN.username }).waitFor()
  await page.locator('[data-test=fleet-summary]', { hasText: '共 0 台主机' }).waitFor()
  await shot(page, '01-operator-signed-in')
})

test('the session is refreshed before the access token expires', async () => {
  const read = () => page.evaluate(() => JSON.parse(localStorage.getItem('remotegpu.session') ?? 'null'))
  const before = await read()
  assert.ok(before?.refreshToken, 'a stored session')
  // Pretend the access token has 30 s left: the console refreshes it at once (a minute early).
  await page.evaluate((s) => {
    localStorage.setItem('remotegpu.session', JSON.stringify({ ...s, accessTokenExpiresAt: new Date(Date.now() + 30_000).toISOString() }))
  }, before)
  await page.reload()
  const after = await until(async () => {
    const s = await read()
    return s && s.refreshToken !== before.refreshToken ? s : null
  }, { what: 'a refreshed session' })
  assert.ok(new Date(after.accessTokenExpiresAt).getTime() > Date.now() + 10 * 60_000, 'a fresh access token')
  await page.locator('[data-test=fleet-summary]').waitFor()
})

test('the host form rejects a bad IP beside the field', async () => {
  await page.locator('[data-test=register-host]').click()
  const form = page.locator('[data-test=host-form]')
  await form.waitFor()
  await form.locator('input[name=name]').fill('bad-ip-host')
  await form.locator('input[name=ipAddress]').fill('10.0.0.256')
  await page.locator('[data-test=host-submit]').click()
  const error = page.locator('[data-test=field-ipAddress] .el-form-item__error')
  await error.waitFor()
  assert.equal((await error.textContent())?.trim(), '请输入有效的IP地址')
  await shot(page, '02-bad-ip-rejected')
  // A rule only the server knows (64 characters at most): its BAD_USER_INPUT lands beside the field.
  await form.locator('input[name=ipAddress]').fill('10.0.0.1')
  await form.locator('input[name=osVersion]').fill('x'.repeat(65))
  await page.locator('[data-test=host-submit]').click()
  const serverError = page.locator('[data-test=field-osVersion] .el-form-item__error')
  await serverError.waitFor()
  assert.match((await serverError.textContent()) ?? '', /BAD_USER_INPUT/)
  await shot(page, '02-server-error-beside-field')
  await form.locator('input[name=osVersion]').fill('')
  await form.locator('input[name=ipAddress]').fill('')
})

test('an operator registers a host through the form', async () => {
  const form = page.locator('[data-test=host-form]')
  await form.locator('input[name=name]').fill(HOST)
  await form.locator('input[name=ipAddress]').fill('192.168.1.10')
  await form.locator('input[name=labels]').fill('region=us-west, zone=e2e')
  await page.locator('[data-test=host-submit]').click()
  const tokenInput = page.locator('[data-test=agent-token] input')
  await tokenInput.waitFor()
  token = await tokenInput.inputValue()
  assert.match(token, /^rgpu_agent_/)
  await shot(page, '03-host-registered-token')
  await page.locator('[data-test=token-done]').click()
  // The created row is in the list without a refetch, offline until its agent speaks.
  await page.locator(`[data-test="host-${HOST}"]`).waitFor()
  await page.locator(`[data-test="status-${HOST}"][data-status=OFFLINE]`).waitFor()
  await dialogsClosed()
})

test('the agent connects and the host turns ONLINE without a reload', async () => {
  await page.evaluate(() => ((window).__noReload = true))
  agent = startAgent(server.url, token)
  await page.locator(`[data-test="status-${HOST}"][data-status=ONLINE]`).waitFor({ timeout: 30_000 })
  assert.equal(await page.evaluate(() => (window).__noReload), true, 'the page was not reloaded')
  assert.match((await page.locator(`[data-test="status-${HOST}"]`).textContent()) ?? '', /在线/)
  await shot(page, '04-host-online-live')
})

test('a GPU gauge changes value as samples arrive', async () => {
  await page.locator(`[data-test="host-${HOST}"]`).click()
  await page.waitForURL('**/hosts/**')
  const gauge = page.locator('[data-test=gauge-utilization-0]')
  const first = await until(async () => {
    const text = (await gauge.textContent())?.trim()
    return text && text !== '—' ? text : null
  }, { what: 'a first GPU sample' })
  // From here on nothing asks the server over HTTP: the values come over the subscription.
  let posts = 0
  const count = (req) => {
    if (req.method() === 'POST' && new URL(req.url()).pathname === '/graphql') posts += 1
  }
  page.on('request', count)
  const second = await until(async () => {
    const text = (await gauge.textContent())?.trim()
    return text && text !== first ? text : null
  }, { what: 'the gauge to change' })
  page.off('request', count)
  assert.notEqual(first, second)
  assert.equal(posts, 0, 'gauges are pushed, not polled')
  await page.locator('[data-test=gauge-temperature-0]').waitFor()
  await shot(page, '05-gpu-gauges-live')
})

test('history charts follow the range, with its resolution', async () => {
  const host = page.locator('[data-test=history-host]')
  await page.locator('[data-test=range] label', { hasText: '24h' }).click()
  await until(async () => Number(await host.getAttribute('data-points')) > 0 && (await host.getAttribute('data-resolution')) === 'RAW', {
    what: 'raw samples of the last 24 h',
  })
  await until(async () => Number(await page.locator('[data-test=history-gpu]').getAttribute('data-points')) > 0, { what: 'GPU history' })
  await page.locator('[data-test=range] label', { hasText: '7d' }).click()
  await until(async () => (await host.getAttribute('data-resolution')) === 'HOURLY', { what: 'hourly rollups for 7 days' })
  await page.locator('[data-test=range] label', { hasText: '1h' }).click()
  await until(async () => Number(await host.getAttribute('data-points')) > 0, { what: 'the last hour' })
  await shot(page, '06-host-history')
})

test("a command's output appears line by line", async () => {
  await page.locator('[data-test=nav] .el-menu-item', { hasText: '远程命令' }).click()
  await page.waitForURL('**/commands')
  // The output is live only (no replay): the first line comes a second in, once the page follows.
  await page.locator('[data-test=command-form] textarea').fill('sleep 1; for i in 1 2 3 4 5; do echo "line $i"; sleep 1; done; echo "finished" >&2')
  await choose(page.locator('[data-test=command-hosts]'), HOST)
  await page.keyboard.press('Escape')
  await page.locator('[data-test=run-command]').click()
  const terminal = page.locator('[data-test=terminal]')
  const early = await until(async () => {
    const text = (await terminal.textContent()) ?? ''
    return text.includes('line 1') ? text : null
  }, { what: 'the first line' })
  assert.ok(!early.includes('line 5'), `output arrived all at once: ${early}`)
  await until(async () => ((await terminal.textContent()) ?? '').includes('line 5'), { what: 'the last line' })
  await terminal.locator('[data-stream=STDERR]', { hasText: 'finished' }).first().waitFor()
  await page.locator('[data-test=selected-status][data-status=SUCCESS]').waitFor()
  await page.locator('[data-test=batch-progress]', { hasText: '1/1' }).waitFor()
  await shot(page, '07-command-output-live')
})

test('every page of the menu opens', async () => {
  const pages = [
    ['开发环境', '/environments'],
    ['数据集', '/datasets'],
    ['模型', '/models'],
    ['镜像', '/images'],
    ['系统配置', '/system-configs'],
    ['费用中心', '/billing'],
    ['账户', '/account'],
    ['总览', '/'],
  ]
  for (const [label, path] of pages) {
    await page.locator('[data-test=nav] .el-menu-item', { hasText: label }).click()
    await page.waitForURL((url) => url.pathname === path)
    await page.locator('.el-main h2').first().waitFor()
    await page.locator('.el-main .el-table').first().waitFor()
    await shot(page, `08-page-${path.slice(1) || 'overview'}`)
  }
  await page.locator('[data-test=nav] .el-menu-item', { hasText: '远程命令' }).click()
  await page.waitForURL('**/commands')
})

test('an operator adds a price from a whole future UTC hour and it appears in the price book', async () => {
  await page.locator('[data-test=nav] .el-menu-item', { hasText: '费用中心' }).click()
  await page.waitForURL('**/billing')
  await page.locator('[data-test=prices]').waitFor()
  // Everyone reads the book; it starts empty.
  await page.locator('[data-test=prices] .el-table__empty-text').waitFor()
  await page.locator('[data-test=add-price]').click()
  const form = page.locator('[data-test=price-form]')
  await form.waitFor()
  // The model the agent reports is offered; the form starts at the next whole UTC hour.
  await choose(form.locator('[data-test=price-gpu-model]'), 'NVIDIA A100-SXM4-80GB')
  // A client rule: four decimal places at most.
  await form.locator('input[name=unitPrice]').fill('2.12345')
  await page.locator('[data-test=price-submit]').click()
  await form.locator('.el-form-item__error', { hasText: '最多 4 位小数' }).waitFor()
  await form.locator('input[name=unitPrice]').fill('2.5000')
  // A rule only the server checks: the hour under way is not in the future.
  const now = new Date()
  const today = now.toISOString().slice(0, 10)
  const dateInput = form.locator('[data-test=price-date] input')
  const setDate = async (value) => {
    await dateInput.fill(value)
    await dateInput.press('Enter')
  }
  const next = new Date(now)
  next.setUTCHours(now.getUTCHours() + 1, 0, 0, 0)
  await setDate(today)
  await choose(form.locator('[data-test=price-hour]'), `${now.toISOString().slice(11, 13)}:00`)
  await page.locator('[data-test=price-submit]').click()
  const whenError = form.locator('.el-form-item__error', { hasText: 'BAD_USER_INPUT' })
  await whenError.waitFor()
  assert.match((await whenError.textContent()) ?? '', /future/)
  await shot(page, '14-price-in-the-past-refused')
  // The next whole hour is taken.
  await setDate(next.toISOString().slice(0, 10))
  await choose(form.locator('[data-test=price-hour]'), `${next.toISOString().slice(11, 13)}:00`)
  const answer = page.waitForResponse((r) => r.request().postData()?.includes('SetPrice') ?? false)
  await page.locator('[data-test=price-submit]').click()
  const body = await (await answer).json()
  assert.equal(body.errors, undefined, JSON.stringify(body.errors))
  assert.equal(body.data.setPrice.effectiveFrom.slice(0, 13), next.toISOString().slice(0, 13))
  await dialogsClosed()
  // The new row is in the book, the price as the server keeps it.
  const row = page.locator('[data-test=prices] .el-table__row', { hasText: 'NVIDIA A100-SXM4-80GB' })
  await row.filter({ hasText: body.data.setPrice.unitPrice }).waitFor()
  assert.match((await row.textContent()) ?? '', new RegExp(`${next.toISOString().slice(0, 10)} ${next.toISOString().slice(11, 13)}:00 UTC`))
  const { login } = await api(server.url, 'mutation($l: String!, $p: String!) { login(login: $l, password: $p) { accessToken } }', { l: ADMIN.username, p: ADMIN.password })
  const { prices } = await api(server.url, '{ prices { nodes { resourceType gpuModel unitPrice } } }', {}, login.accessToken)
  assert.deepEqual(prices.nodes, [{ resourceType: 'GPU', gpuModel: 'NVIDIA A100-SXM4-80GB', unitPrice: body.data.setPrice.unitPrice }])
  await shot(page, '14-price-added')
  await page.locator('[data-test=nav] .el-menu-item', { hasText: '远程命令' }).click()
  await page.waitForURL('**/commands')
})

test('switching to English changes the labels', async () => {
  const nav = page.locator('[data-test=nav]')
  await nav.locator('.el-menu-item', { hasText: '主机管理' }).waitFor()
  // Element Plus's own texts follow the language too (its select placeholder here).
  const placeholder = page.locator('[data-test=command-hosts] .el-select__placeholder')
  await placeholder.filter({ hasText: '请选择' }).waitFor()
  await choose(page.locator('.el-header [data-test=language]'), 'English')
  await placeholder.filter({ hasText: 'Select' }).waitFor()
  await nav.locator('.el-menu-item', { hasText: 'Hosts' }).waitFor()
  await nav.locator('.el-menu-item', { hasText: 'Commands' }).waitFor()
  assert.equal(await nav.locator('.el-menu-item', { hasText: '主机管理' }).count(), 0)
  await page.locator('h2', { hasText: 'Commands' }).waitFor()
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'en')
  await page.locator('.el-select-dropdown').first().waitFor({ state: 'hidden' })
  await shot(page, '09-english')
})

test('a customer signs up and sees no host', async () => {
  await page.locator('[data-test=sign-out]').click()
  await page.waitForURL('**/login')
  await page.locator('[data-test=to-register]').click()
  const form = page.locator('[data-test=register-form]')
  await form.locator('input[name=username]').fill(CUSTOMER.username)
  await form.locator('input[name=email]').fill(CUSTOMER.email)
  await form.locator('input[name=password]').fill(CUSTOMER.password)
  await page.locator('[data-test=register]').click()
  await page.locator('[data-test=hello]', { hasText: CUSTOMER.username }).waitFor()
  await page.locator('[data-test=whoami]', { hasText: 'Customer' }).waitFor()
  const nav = page.locator('[data-test=nav]')
  await nav.locator('.el-menu-item', { hasText: 'Datasets' }).waitFor()
  assert.equal(await nav.locator('.el-menu-item', { hasText: 'Hosts' }).count(), 0, 'no fleet for customers')
  // Typing the fleet's address leads back to the overview, and no host shows anywhere.
  await page.goto(`${server.url}/fleet`)
  await page.locator('[data-test=hello]').waitFor()
  assert.equal(new URL(page.url()).pathname, '/')
  await page.locator('[data-test=gpu-availability] .el-table__row').first().waitFor()
  const text = (await page.locator('body').textContent()) ?? ''
  assert.ok(!text.includes(HOST) && !text.includes('192.168.1.10'), 'a customer sees no host')
  await shot(page, '10-customer-sees-no-host')
})

test('a customer creates a workspace and shares a dataset in it', async () => {
  await page.locator('[data-test=nav] .el-menu-item', { hasText: 'Account' }).click()
  await page.locator('[data-test=create-workspace]').click()
  const dialog = page.locator('.el-dialog:visible')
  await dialog.locator('input').first().fill('ML Team')
  await dialog.locator('button[type=submit]').click()
  await page.locator('.el-main a', { hasText: 'ML Team' }).click()
  await page.waitForURL('**/workspaces/**')
  await page.locator('.el-main .el-table__row', { hasText: CUSTOMER.username }).filter({ hasText: 'Owner' }).waitFor()
  // A colleague joins by invitation: invited by username, listed as typed until they accept.
  const bob = await api(server.url, 'mutation { register(input: { username: "bob", email: "bob@example.com", password: "bob-password-1" }) { accessToken } }')
  await page.locator('[data-test=invite-member]').click()
  const invite = page.locator('.el-dialog:visible form')
  await invite.locator('input[name=login]').fill('bob')
  await invite.locator('button[type=submit]').click()
  await page.locator('[data-test=invitations] .el-table__row', { hasText: 'bob' }).waitFor()
  await dialogsClosed()
  await shot(page, '10-customer-invites-a-member')
  const { myInvitations } = await api(server.url, '{ myInvitations { totalCount nodes { id workspaceName } } }', {}, bob.register.accessToken)
  assert.equal(myInvitations.totalCount, 1)
  assert.equal(myInvitations.nodes[0].workspaceName, 'ML Team')
  await api(server.url, 'mutation($id: ID!) { acceptInvitation(id: $id) { id } }', { id: myInvitations.nodes[0].id }, bob.register.accessToken)
  await page.reload()
  await page.locator('.el-main .el-table__row', { hasText: 'bob@example.com' }).filter({ hasText: 'Member' }).waitFor()
  assert.equal(await page.locator('[data-test=invitations]').count(), 0, 'the accepted invitation is used up')
  await page.locator('[data-test=nav] .el-menu-item', { hasText: 'Datasets' }).click()
  await page.locator('[data-test=create-dataset]').click()
  const form = page.locator('[data-test=dataset-form]')
  await form.locator('input[name=name]').fill('ImageNet-1K')
  await form.locator('textarea').fill('image classification')
  await choose(form.locator('[data-test=dataset-workspace]'), 'ML Team')
  // A customer names no location: no path, and no import key (that is for operators).
  assert.equal(await form.locator('[data-test=field-importKey]').count(), 0, 'no import key for customers')
  assert.equal(await form.locator('input[placeholder*="/"]').count(), 0, 'no path to type')
  const answer = page.waitForResponse((r) => r.request().postData()?.includes('CreateDataset(') ?? false)
  await form.locator('button[type=submit]').click()
  const response = await answer
  const sent = JSON.parse(response.request().postData() ?? '{}').variables.input
  assert.deepEqual(Object.keys(sent).sort(), ['description', 'name', 'workspaceId'])
  const created = (await response.json()).data.createDataset
  // The platform chose the key: beneath the workspace's folder, a fresh id.
  assert.match(created.storagePath, /^datasets\/w\d+\/[0-9a-f]{32}$/)
  // The created row joins the list from the mutation's answer, its storage key read-only.
  await page.locator('[data-test=datasets] .el-table__row', { hasText: 'ImageNet-1K' }).filter({ hasText: 'ML Team' }).waitFor()
  assert.equal(((await page.locator('[data-test="dataset-key-ImageNet-1K"]').textContent()) ?? '').trim(), created.storagePath)
  await dialogsClosed()
  await shot(page, '10-customer-dataset-in-workspace')
})

test('a new dataset version is uploading until it is finalized, then ready', async () => {
  const row = page.locator('[data-test=datasets] .el-table__row', { hasText: 'ImageNet-1K' }).first()
  await row.locator('.el-table__expand-icon').click()
  await page.locator('[data-test="add-version-ImageNet-1K"]').click()
  const form = page.locator('[data-test=version-form]')
  await form.waitFor()
  assert.equal(await form.locator('[data-test=field-importKey]').count(), 0, 'no import key for customers')
  await form.locator('input[name=version]').fill('v1')
  const answer = page.waitForResponse((r) => r.request().postData()?.includes('CreateDatasetVersion') ?? false)
  await page.locator('[data-test=version-submit]').click()
  const created = (await (await answer).json()).data.createDatasetVersion
  assert.equal(created.status, 'UPLOADING')
  const datasetKey = ((await page.locator('[data-test="dataset-key-ImageNet-1K"]').textContent()) ?? '').trim()
  assert.match(created.storagePath, new RegExp(`^${datasetKey}/[0-9a-f]{32}$`))
  await dialogsClosed()
  await page.locator('[data-test="version-status-ImageNet-1K-v1"][data-status=UPLOADING]').waitFor()
  assert.equal(((await page.locator('[data-test="version-key-ImageNet-1K-v1"]').textContent()) ?? '').trim(), created.storagePath)
  await shot(page, '10-dataset-version-uploading')
  // Finalize, after a confirmation that says what it does.
  await page.locator('[data-test="finalize-ImageNet-1K-v1"]').click()
  const box = page.locator('.el-message-box:visible')
  await box.waitFor()
  assert.match((await box.textContent()) ?? '', /read-only/)
  const finalized = page.waitForResponse((r) => r.request().postData()?.includes('FinalizeDatasetVersion') ?? false)
  await box.locator('.el-message-box__btns .el-button--primary').click()
  const body = await (await finalized).json()
  assert.equal(body.errors, undefined, JSON.stringify(body.errors))
  assert.equal(body.data.finalizeDatasetVersion.status, 'READY')
  await page.locator('[data-test="version-status-ImageNet-1K-v1"][data-status=READY]').waitFor()
  assert.equal(await page.locator('[data-test="finalize-ImageNet-1K-v1"]').count(), 0, 'a ready version is not finalized again')
  const alice = await tokenOf(CUSTOMER.username, CUSTOMER.password)
  const { datasetVersion } = await api(server.url, 'query($id: ID!) { datasetVersion(id: $id) { status } }', { id: created.id }, alice.token)
  assert.equal(datasetVersion.status, 'READY')
  await shot(page, '10-dataset-version-ready')
})

test('a customer creates a CPU-only environment and sees its status change live', async () => {
  // Set-up through the API, as an operator: an image to pick and a gateway to connect through.
  const { login } = await api(server.url, 'mutation($l: String!, $p: String!) { login(login: $l, password: $p) { accessToken } }', {
    l: ADMIN.username,
    p: ADMIN.password,
  })
  const admin = login.accessToken
  await api(server.url, 'mutation { createImage(input: { name: "ubuntu:22.04", category: "base", isOfficial: true }) { id } }', {}, admin)
  await api(
    server.url,
    'mutation { createSystemConfig(input: { configKey: "environment_gateway_host", configValue: "gw.e2e.test", configType: STRING }) { id } }',
    {},
    admin,
  )

  await page.locator('[data-test=nav] .el-menu-item', { hasText: 'Environments' }).click()
  await page.waitForURL('**/environments')
  await page.locator('h2', { hasText: 'Environments' }).waitFor()
  await page.locator('[data-test=create-environment]').click()
  const form = page.locator('[data-test=environment-form]')
  await form.waitFor()
  // Name is required.
  await page.locator('[data-test=env-submit]').click()
  await form.locator('.el-form-item__error', { hasText: 'Environment name is required' }).waitFor()
  await form.locator('input[name=name]').fill('dev-box')
  await choose(form.locator('[data-test=env-image]'), 'ubuntu:22.04')
  // cpu 1, memory 1 GB, 0 GPUs and SSH are the defaults.
  assert.equal(await form.locator('input[name=cpu]').inputValue(), '1')
  assert.equal(await form.locator('input[name=memory]').inputValue(), '1')
  assert.equal(await form.locator('input[name=gpuCount]').inputValue(), '0')
  const answer = page.waitForResponse((r) => r.request().postData()?.includes('CreateEnvironment') ?? false)
  await page.locator('[data-test=env-submit]').click()
  const created = (await (await answer).json()).data.createEnvironment
  assert.equal(created.status, 'CREATING')
  assert.equal(created.memory, String(1024 ** 3))
  assert.equal(created.portMappings.length, 1)
  assert.match(created.portMappings[0].connect, /^ssh -p 30\d{3} root@gw\.e2e\.test$/)
  await page.locator('[data-test="env-dev-box"]').waitFor()
  await dialogsClosed()
  // The agent has no Docker here: its CREATE order fails, and the row turns FAILED through the
  // subscription, without a reload.
  await page.locator('[data-test="env-status-dev-box"][data-status=FAILED]').waitFor({ timeout: 30_000 }).catch(async (err) => {
    const seen = await api(server.url, '{ environments { nodes { name status failureReason portMappings { status connect } } } }', {}, admin)
    throw new Error(`${err.message}\nthe server has: ${JSON.stringify(seen)}`)
  })
  assert.match((await page.locator('[data-test="env-status-dev-box"]').textContent()) ?? '', /Failed/)
  await shot(page, '13-environment-failed-live')
})

test('a customer mounts an uploading version read-write to fill it, with shared memory', async () => {
  // Set-up through the API: a second version of the dataset, UPLOADING as every new one is.
  const alice = await tokenOf(CUSTOMER.username, CUSTOMER.password)
  const { datasets } = await api(server.url, '{ datasets { nodes { id name } } }', {}, alice.token)
  const dataset = datasets.nodes.find((d) => d.name === 'ImageNet-1K')
  const { createDatasetVersion: v2 } = await api(
    server.url,
    'mutation($d: ID!) { createDatasetVersion(input: { datasetId: $d, version: "v2" }) { id status } }',
    { d: dataset.id },
    alice.token,
  )
  assert.equal(v2.status, 'UPLOADING')

  await page.reload()
  await page.locator('[data-test=create-environment]').click()
  const form = page.locator('[data-test=environment-form]')
  await form.waitFor()
  await form.locator('input[name=name]').fill('filler')
  await choose(form.locator('[data-test=env-image]'), 'ubuntu:22.04')
  // Shared memory: at most the memory (1 GB here), in GB.
  await form.locator('input[name=shmSize]').fill('2')
  await form.locator('input[name=shmSize]').press('Tab')
  assert.equal(await form.locator('input[name=shmSize]').inputValue(), '1.0')
  await form.locator('input[name=shmSize]').fill('0.5')
  await form.locator('input[name=shmSize]').press('Tab')
  await page.locator('[data-test=env-add-dataset]').click()
  const mount = form.locator('[data-test=env-mount-0]')
  await choose(mount.locator('[data-test=env-mount-dataset]'), 'ImageNet-1K')
  // The mount path follows the dataset's name; read-write waits for an uploading version.
  assert.equal(await mount.locator('input[name=mountPath-0]').inputValue(), '/data/imagenet-1k')
  const readWrite = mount.locator('[data-test=env-mount-read-write]')
  assert.match((await readWrite.getAttribute('class')) ?? '', /is-disabled/)
  await choose(mount.locator('[data-test=env-mount-version]'), 'v2')
  await until(async () => !/is-disabled/.test((await readWrite.getAttribute('class')) ?? ''), { what: 'read-write offered for an uploading version' })
  await readWrite.click()
  await shot(page, '13-environment-mounts-read-write')
  const answer = page.waitForResponse((r) => r.request().postData()?.includes('CreateEnvironment') ?? false)
  await page.locator('[data-test=env-submit]').click()
  const response = await answer
  const input = JSON.parse(response.request().postData() ?? '{}').variables.input
  assert.equal(input.shmSize, String(1024 ** 3 / 2))
  assert.deepEqual(input.datasets, [{ datasetId: dataset.id, versionId: v2.id, mountPath: '/data/imagenet-1k', readWrite: true }])
  const body = await response.json()
  assert.equal(body.errors, undefined, JSON.stringify(body.errors))
  const env = body.data.createEnvironment
  await dialogsClosed()
  const { environment } = await api(
    server.url,
    'query($id: ID!) { environment(id: $id) { datasetUsage { mountPath accessMode datasetVersion { version } } } }',
    { id: env.id },
    alice.token,
  )
  assert.deepEqual(environment.datasetUsage, [{ mountPath: '/data/imagenet-1k', accessMode: 'READ_WRITE', datasetVersion: { version: 'v2' } }])
  await page.locator('[data-test="env-status-filler"][data-status=FAILED]').waitFor({ timeout: 30_000 })

  // While that environment exists it may still write the version: finalizing is refused.
  await page.locator('[data-test=nav] .el-menu-item', { hasText: 'Datasets' }).click()
  await page.waitForURL('**/datasets')
  await page.locator('[data-test=datasets] .el-table__row', { hasText: 'ImageNet-1K' }).first().locator('.el-table__expand-icon').click()
  await page.locator('[data-test="finalize-ImageNet-1K-v2"]').click()
  await page.locator('.el-message-box:visible .el-message-box__btns .el-button--primary').click()
  const refused = page.locator('.el-message--error', { hasText: 'CONFLICT' })
  await refused.waitFor()
  assert.match((await refused.textContent()) ?? '', /read-write/)
  await page.locator('[data-test="version-status-ImageNet-1K-v2"][data-status=UPLOADING]').waitFor()
  await shot(page, '13-finalize-refused-while-mounted')
  await page.locator('[data-test=nav] .el-menu-item', { hasText: 'Environments' }).click()
  await page.waitForURL('**/environments')
})

/** An access token from the API (test set-up). */
async function tokenOf(login, password) {
  const data = await api(server.url, 'mutation($l: String!, $p: String!) { login(login: $l, password: $p) { accessToken customer { id } } }', {
    l: login,
    p: password,
  })
  return { token: data.login.accessToken, id: data.login.customer.id }
}

/** Signs the browser in as someone else. */
async function signInAs(login, password) {
  await page.locator('[data-test=sign-out]').click()
  await page.waitForURL('**/login')
  await page.locator('input[name=login]').fill(login)
  await page.locator('input[name=password]').fill(password)
  await page.locator('[data-test=sign-in]').click()
  await page.locator('[data-test=whoami]', { hasText: login }).waitFor()
}

/** The spend card's figures as shown. */
async function card() {
  const text = async (sel) => ((await page.locator(`[data-test=spend-card] [data-test=${sel}]`).textContent()) ?? '').trim()
  return {
    spend: await text('spend-this-month'),
    limit: await text('spend-limit'),
    alert: await page.locator('[data-test=spend-card] [data-test=spend-alert]').getAttribute('data-alert'),
  }
}

let billingEnv = null

test("a customer's spend card follows the limit live, and reaching it stops a running environment", async () => {
  // Set-up through the API: a host whose "agent" is this test (its token), with a GPU model of
  // its own, and an environment of alice's there that the agent reports RUNNING.
  const admin = (await tokenOf(ADMIN.username, ADMIN.password)).token
  const alice = await tokenOf(CUSTOMER.username, CUSTOMER.password)
  const { createHost } = await api(
    server.url,
    'mutation { createHost(input: { name: "Billing-Host-E2E", ipAddress: "192.168.1.20", osType: LINUX, deploymentMode: TRADITIONAL, totalCpu: 8, totalMemory: "34359738368" }) { agentToken } }',
    {},
    admin,
  )
  const hostToken = createHost.agentToken
  await api(
    server.url,
    `mutation($input: AgentReportInput!) { agentReport(input: $input) { hostId } }`,
    {
      input: {
        hostname: 'billing-e2e',
        ipAddress: '192.168.1.20',
        osType: 'LINUX',
        totalCpu: 8,
        totalMemory: String(32 * 1024 ** 3),
        gpus: [{ index: 0, uuid: 'GPU-e2e-billing-0000', name: 'NVIDIA E2E-Billing', memoryTotal: String(16 * 1024 ** 3) }],
      },
    },
    hostToken,
  )
  const { images } = await api(server.url, '{ images { nodes { id name } } }', {}, alice.token)
  const { createEnvironment } = await api(
    server.url,
    `mutation($input: CreateEnvironmentInput!) { createEnvironment(input: $input) { id name status } }`,
    { input: { name: 'train-box', imageId: images.nodes[0].id, cpu: 2, memory: String(1024 ** 3), gpuCount: 1, gpuModel: 'NVIDIA E2E-Billing', services: ['SSH'] } },
    alice.token,
  )
  billingEnv = createEnvironment
  await api(server.url, 'mutation($id: ID!) { reportEnvironmentStatus(environmentId: $id, status: RUNNING) { status } }', { id: billingEnv.id }, hostToken)
  const { environment } = await api(server.url, 'query($id: ID!) { environment(id: $id) { status } }', { id: billingEnv.id }, alice.token)
  assert.equal(environment.status, 'RUNNING')

  // The card shows the server's figures as they are (Decimal strings), no limit yet.
  await page.locator('[data-test=nav] .el-menu-item', { hasText: 'Billing' }).click()
  await page.waitForURL('**/billing')
  await page.locator('h2', { hasText: 'Billing' }).waitFor()
  const { me } = await api(server.url, '{ me { spend { spendThisMonth spendLimit alert } } }', {}, alice.token)
  assert.equal(me.spend.spendLimit, null)
  await until(async () => (await card()).spend === me.spend.spendThisMonth, { what: `the spend ${me.spend.spendThisMonth}` })
  assert.deepEqual(await card(), { spend: me.spend.spendThisMonth, limit: 'None', alert: 'NONE' })
  assert.equal(await page.locator('[data-test=spend-progress]').count(), 0, 'no bar without a limit')

  // An operator sets alice's limit elsewhere: the card follows over `spendUpdates`, with no
  // request from the page.
  let posts = 0
  const count = (req) => {
    if (req.method() === 'POST' && new URL(req.url()).pathname === '/graphql') posts += 1
  }
  page.on('request', count)
  const set = await api(
    server.url,
    'mutation($c: ID!) { setSpendLimit(customerId: $c, limit: "100") { spendLimit } }',
    { c: alice.id },
    admin,
  )
  await until(async () => (await card()).limit === set.setSpendLimit.spendLimit, { what: `the limit ${set.setSpendLimit.spendLimit} pushed` })
  page.off('request', count)
  assert.equal(posts, 0, 'the spend is pushed, not polled')
  await page.locator('[data-test=spend-progress]').waitFor()
  await shot(page, '15-spend-limit-live')

  // The form: a client rule, then a new limit the card shows as the server answers it.
  const limit = page.locator('[data-test=limit-form] input[name=limit]')
  await limit.fill('12.34567')
  await page.locator('[data-test=set-limit]').click()
  await page.locator('[data-test=field-limit] .el-form-item__error', { hasText: 'at most 4 decimal places' }).waitFor()
  const answer = (value) => page.waitForResponse((r) => (r.request().postData()?.includes('SetSpendLimit') ?? false) && r.request().postData().includes(value))
  await limit.fill('50.5')
  let response = answer('50.5')
  await page.locator('[data-test=set-limit]').click()
  const fifty = (await (await response).json()).data.setSpendLimit
  await until(async () => (await card()).limit === fifty.spendLimit, { what: 'the limit set in the form' })
  assert.equal((await card()).alert, 'NONE')

  // A limit of 0 is reached at once: LIMIT_REACHED, the bar full, the environment stopped
  // with the reason, and new environments refused.
  await limit.fill('0')
  response = answer('"0"')
  await page.locator('[data-test=set-limit]').click()
  const zero = (await (await response).json()).data.setSpendLimit
  assert.equal(zero.alert, 'LIMIT_REACHED')
  await page.locator('[data-test=spend-alert][data-alert=LIMIT_REACHED]', { hasText: 'Limit reached' }).waitFor()
  await page.locator('[data-test=spend-progress][data-percent="100"]').waitFor()
  assert.equal((await card()).limit, zero.spendLimit)
  await shot(page, '15-spend-limit-reached')
  const stopped = await until(async () => {
    const { environment: e } = await api(server.url, 'query($id: ID!) { environment(id: $id) { status stopReason costSoFar } }', { id: billingEnv.id }, alice.token)
    return e.stopReason ? e : null
  }, { what: 'the environment stopped by the limit' })
  await page.locator('[data-test=nav] .el-menu-item', { hasText: 'Environments' }).click()
  await page.waitForURL('**/environments')
  await page.locator('[data-test="env-stop-reason-train-box"]', { hasText: stopped.stopReason }).waitFor()
  assert.match(stopped.stopReason, /spend limit/)
  assert.equal(((await page.locator('[data-test="env-cost-train-box"]').textContent()) ?? '').trim(), stopped.costSoFar)
  await shot(page, '16-environment-stopped-by-limit')
  // Idle auto-stop, off by default, is set per GPU environment.
  const idle = page.locator('[data-test="idle-train-box"]')
  assert.equal(((await idle.textContent()) ?? '').trim(), 'Off')
  await idle.click()
  const idleForm = page.locator('[data-test=idle-form]')
  await idleForm.waitFor()
  await idleForm.locator('.el-switch').click()
  await idleForm.locator('input[name=minutes]').fill('45')
  await idleForm.locator('input[name=minutes]').press('Tab')
  await page.locator('[data-test=idle-submit]').click()
  await dialogsClosed()
  await page.locator('[data-test="idle-train-box"]', { hasText: '45 min' }).waitFor()
  const { environment: withIdle } = await api(server.url, 'query($id: ID!) { environment(id: $id) { idleStopMinutes idleThresholdPercent } }', { id: billingEnv.id }, alice.token)
  assert.deepEqual(withIdle, { idleStopMinutes: 45, idleThresholdPercent: 5 })

  // Removing the limit: no limit, no alert.
  await page.locator('[data-test=nav] .el-menu-item', { hasText: 'Billing' }).click()
  await page.waitForURL('**/billing')
  await page.locator('[data-test=remove-limit]').click()
  await until(async () => (await card()).limit === 'None' && (await card()).alert === 'NONE', { what: 'the limit removed' })
})

test('the billing page lists the invoices and records the server returns', async () => {
  const alice = await tokenOf(CUSTOMER.username, CUSTOMER.password)
  const { invoices } = await api(
    server.url,
    '{ invoices(first: 50) { nodes { id invoiceNo status subtotal tax totalAmount currency } } }',
    {},
    alice.token,
  )
  await page.locator('[data-test=nav] .el-menu-item', { hasText: 'Billing' }).click()
  await page.waitForURL('**/billing')
  const table = page.locator('[data-test=invoices]')
  await table.waitFor()
  await page.waitForLoadState('networkidle')
  assert.equal(await page.locator('[data-test=invoices-error]').count(), 0, 'the invoices were read')
  // Records are metered per closed UTC hour, so a run shorter than that usually has none yet;
  // whatever the server holds is what the page shows.
  if (invoices.nodes.length === 0) {
    await table.locator('.el-table__empty-text', { hasText: 'No data' }).waitFor()
  }
  for (const inv of invoices.nodes) {
    const row = table.locator('.el-table__row', { has: page.locator(`[data-test="invoice-${inv.invoiceNo}"]`) })
    await row.waitFor()
    const text = (await row.textContent()) ?? ''
    for (const money of [inv.subtotal, inv.tax, `${inv.totalAmount}${inv.currency ? ` ${inv.currency}` : ''}`]) assert.ok(text.includes(money), `${inv.invoiceNo}: ${money} in ${text}`)
    await row.locator('.el-table__expand-icon').click()
    const records = page.locator(`[data-test="records-${inv.invoiceNo}"]`)
    await records.waitFor()
    const { billingRecords } = await api(
      server.url,
      'query($id: ID!) { billingRecords(filter: { invoiceId: { eq: $id } }, orderBy: [{ field: START_TIME, direction: ASC }], first: 100) { nodes { amount } } }',
      { id: inv.id },
      alice.token,
    )
    await until(async () => (await records.locator('[data-test=record-amount]').count()) === billingRecords.nodes.length, { what: `the records of ${inv.invoiceNo}` })
    assert.equal(await records.locator('[data-test=records-error]').count(), 0)
    const amounts = await records.locator('[data-test=record-amount]').allTextContents()
    assert.deepEqual(amounts.map((a) => a.trim()), billingRecords.nodes.map((r) => r.amount))
  }
  await shot(page, '17-invoices')
})

test('a workspace member may not set its limit and sees why', async () => {
  await signInAs('bob', 'bob-password-1')
  await page.locator('[data-test=nav] .el-menu-item', { hasText: 'Billing' }).click()
  await page.waitForURL('**/billing')
  await choose(page.locator('[data-test=spend-account]'), 'ML Team')
  await page.locator('[data-test=spend-card] [data-test=spend-alert]').waitFor()
  await page.locator('[data-test=limit-form] input[name=limit]').fill('10')
  await page.locator('[data-test=set-limit]').click()
  const error = page.locator('[data-test=field-limit] .el-form-item__error')
  await error.waitFor()
  assert.match((await error.textContent()) ?? '', /FORBIDDEN/)
  assert.equal((await card()).limit, 'None')
  await shot(page, '18-member-limit-forbidden')
})

test("a workspace member sees the names of a colleague's variables, not their values", async () => {
  // Set-up through the API: alice's environment in the shared workspace, with a secret.
  const alice = await tokenOf(CUSTOMER.username, CUSTOMER.password)
  const { me } = await api(server.url, '{ me { memberships { workspace { id name } } } }', {}, alice.token)
  const team = me.memberships.find((m) => m.workspace.name === 'ML Team').workspace
  const { images } = await api(server.url, '{ images { nodes { id name } } }', {}, alice.token)
  const { createEnvironment } = await api(
    server.url,
    'mutation($input: CreateEnvironmentInput!) { createEnvironment(input: $input) { id envVars } }',
    {
      input: {
        name: 'shared-box',
        workspaceId: team.id,
        imageId: images.nodes[0].id,
        cpu: 1,
        memory: String(1024 ** 3),
        gpuCount: 0,
        services: ['SSH'],
        envVars: [{ name: 'API_TOKEN', value: 's3cret' }],
      },
    },
    alice.token,
  )
  assert.deepEqual(createEnvironment.envVars, { API_TOKEN: 's3cret' }, 'its owner reads the value')
  // bob, a MEMBER, may read the environment but not change it: the value is withheld.
  await page.locator('[data-test=nav] .el-menu-item', { hasText: 'Environments' }).click()
  await page.waitForURL('**/environments')
  const row = page.locator('[data-test=environments] .el-table__row', { has: page.locator('[data-test="env-shared-box"]') })
  await row.waitFor()
  await row.locator('.el-table__expand-icon').click()
  const variable = page.locator('[data-test="env-var-shared-box-API_TOKEN"]')
  await variable.locator('[data-test=env-var-hidden]', { hasText: 'hidden' }).waitFor()
  assert.ok(!((await page.locator('body').textContent()) ?? '').includes('s3cret'), 'the value is nowhere on the page')
  await shot(page, '18-member-sees-hidden-variables')
})

test('received invitations are listed a page at a time', async () => {
  // Set-up through the API: alice invites bob into twelve more workspaces.
  const alice = await tokenOf(CUSTOMER.username, CUSTOMER.password)
  const names = Array.from({ length: 12 }, (_, i) => `Team ${String(i + 1).padStart(2, '0')}`)
  for (const name of names) {
    const { createWorkspace } = await api(server.url, 'mutation($n: String!) { createWorkspace(input: { name: $n }) { id } }', { n: name }, alice.token)
    await api(server.url, 'mutation($w: ID!) { inviteWorkspaceMember(input: { workspaceId: $w, login: "bob", role: MEMBER }) { id } }', { w: createWorkspace.id }, alice.token)
  }
  await page.locator('[data-test=nav] .el-menu-item', { hasText: 'Account' }).click()
  await page.waitForURL('**/account')
  const card = page.locator('[data-test=my-invitations]')
  const rows = card.locator('[data-test=my-invitations-table] .el-table__row')
  const shown = async () => (await rows.locator('td:first-child').allTextContents()).map((t) => t.trim())
  await card.locator('[data-test=invitations-total]', { hasText: '12' }).waitFor()
  // Newest first, ten to a page.
  await until(async () => (await shown()).join() === names.slice(2).reverse().join(), { what: 'the first page' })
  assert.equal(((await card.locator('[data-test=invitations-range]').textContent()) ?? '').trim(), '1–10 of 12')
  assert.equal(await card.locator('[data-test=invitations-previous]').isDisabled(), true)
  await shot(page, '19-invitations-first-page')
  await card.locator('[data-test=invitations-next]').click()
  await until(async () => (await shown()).join() === 'Team 02,Team 01', { what: 'the second page' })
  assert.equal(((await card.locator('[data-test=invitations-range]').textContent()) ?? '').trim(), '11–12 of 12')
  assert.equal(await card.locator('[data-test=invitations-next]').isDisabled(), true)
  await shot(page, '19-invitations-second-page')
  await card.locator('[data-test=invitations-previous]').click()
  await until(async () => (await shown()).length === 10, { what: 'the first page again' })
  // Answering the last two of the second page: accepted, bob is a member; then that page
  // is empty and the first one shows, alone (no pager for ten).
  await card.locator('[data-test=invitations-next]').click()
  await until(async () => (await shown()).join() === 'Team 02,Team 01', { what: 'the second page again' })
  await rows.filter({ hasText: 'Team 01' }).locator('[data-test=accept-invitation]').click()
  await card.locator('[data-test=invitations-total]', { hasText: '11' }).waitFor()
  await page.locator('.el-main a', { hasText: 'Team 01' }).waitFor()
  await until(async () => (await shown()).join() === 'Team 02', { what: 'the second page without Team 01' })
  await rows.filter({ hasText: 'Team 02' }).locator('[data-test=decline-invitation]').click()
  await card.locator('[data-test=invitations-total]', { hasText: '10' }).waitFor()
  await until(async () => (await shown()).length === 10, { what: 'back on the first page' })
  await until(async () => (await card.locator('[data-test=invitations-next]').count()) === 0, { what: 'one page needs no pager' })
  const { myInvitations } = await api(server.url, '{ myInvitations(first: 5) { totalCount pageInfo { hasNextPage } nodes { workspaceName } } }', {}, (await tokenOf('bob', 'bob-password-1')).token)
  assert.equal(myInvitations.totalCount, 10)
  assert.equal(myInvitations.pageInfo.hasNextPage, true)
  assert.deepEqual(myInvitations.nodes.map((n) => n.workspaceName), names.slice(7).reverse())
})

test('with the network cut off, the console and GraphiQL load completely', async () => {
  const gql = await browser.newPage()
  await gql.goto(`${server.url}/graphql`)
  await gql.locator('.graphiql-container').waitFor()
  await gql.locator('.graphiql-query-editor .CodeMirror').waitFor()
  await gql.locator('.graphiql-execute-button').click()
  // The customer's token from the console is in the headers: hosts are refused, by code.
  await gql.locator('.result-window', { hasText: 'FORBIDDEN' }).waitFor()
  await shot(gql, '11-graphiql-offline')
  await gql.close()
  const deep = await browser.newPage()
  await deep.goto(`${server.url}/datasets`)
  await deep.locator('h2', { hasText: 'Datasets' }).waitFor()
  await deep.waitForLoadState('networkidle')
  await shot(deep, '12-console-deep-link-offline')
  await deep.close()
  assert.deepEqual(browser.blocked, [], 'requests that would have left 127.0.0.1')
  assert.deepEqual(browser.failed, [], 'requests that failed')
})

test('an operator imports a dataset by key, ready at once', async () => {
  await signInAs(ADMIN.username, ADMIN.password)
  await page.locator('[data-test=nav] .el-menu-item', { hasText: 'Datasets' }).click()
  await page.waitForURL('**/datasets')
  await page.locator('[data-test=create-dataset]').click()
  const form = page.locator('[data-test=dataset-form]')
  await form.locator('input[name=name]').fill('Corpus-Import')
  // A key the server refuses ('..') lands beside the field.
  await form.locator('[data-test=field-importKey] input').fill('imports/../etc')
  await form.locator('button[type=submit]').click()
  await form.locator('[data-test=field-importKey] .el-form-item__error', { hasText: 'BAD_USER_INPUT' }).waitFor()
  await form.locator('[data-test=field-importKey] input').fill('imports/e2e-corpus')
  await form.locator('button[type=submit]').click()
  await dialogsClosed()
  await page.locator('[data-test="dataset-key-Corpus-Import"]', { hasText: 'imports/e2e-corpus' }).waitFor()
  // An imported version is READY as it stands: nothing to finalize.
  await page.locator('[data-test=datasets] .el-table__row', { hasText: 'Corpus-Import' }).first().locator('.el-table__expand-icon').click()
  await page.locator('[data-test="add-version-Corpus-Import"]').click()
  const version = page.locator('[data-test=version-form]')
  await version.locator('input[name=version]').fill('v1')
  await version.locator('[data-test=field-importKey] input').fill('imports/e2e-corpus/v1')
  await page.locator('[data-test=version-submit]').click()
  await dialogsClosed()
  await page.locator('[data-test="version-status-Corpus-Import-v1"][data-status=READY]').waitFor()
  assert.equal(((await page.locator('[data-test="version-key-Corpus-Import-v1"]').textContent()) ?? '').trim(), 'imports/e2e-corpus/v1')
  assert.equal(await page.locator('[data-test="finalize-Corpus-Import-v1"]').count(), 0)
  await shot(page, '20-operator-import')
})

test('an operator declares a host lost: its environments fail and free their GPUs', async () => {
  const admin = (await tokenOf(ADMIN.username, ADMIN.password)).token
  await page.locator('[data-test=nav] .el-menu-item', { hasText: 'Hosts' }).click()
  await page.waitForURL('**/fleet')
  await page.locator('[data-test="host-Billing-Host-E2E"]').click()
  await page.waitForURL('**/hosts/**')
  await page.locator('[data-test=declare-lost]').click()
  const box = page.locator('.el-message-box:visible')
  await box.waitFor()
  assert.match((await box.textContent()) ?? '', /will not come back/)
  // Cancelling changes nothing.
  await box.locator('.el-message-box__btns button', { hasText: 'Cancel' }).click()
  await box.waitFor({ state: 'hidden' })
  const { environment: before } = await api(server.url, 'query($id: ID!) { environment(id: $id) { status } }', { id: billingEnv.id }, admin)
  assert.notEqual(before.status, 'FAILED')
  await page.locator('[data-test=declare-lost]').click()
  const answer = page.waitForResponse((r) => r.request().postData()?.includes('DeclareHostLost') ?? false)
  await page.locator('.el-message-box:visible .el-message-box__btns .el-button--danger').click()
  const body = await (await answer).json()
  assert.equal(body.errors, undefined, JSON.stringify(body.errors))
  // train-box, and whatever else was placed there (shared-box may have been).
  const changed = body.data.declareHostLost
  assert.ok(changed.includes(billingEnv.id), JSON.stringify(changed))
  await page.locator('.el-message--success', { hasText: changed.length === 1 ? '1 environment failed' : `${changed.length} environments failed` }).waitFor()
  const { environment: after } = await api(server.url, 'query($id: ID!) { environment(id: $id) { status failureReason } }', { id: billingEnv.id }, admin)
  assert.equal(after.status, 'FAILED')
  assert.match(after.failureReason ?? '', /declared lost/)
  const { hosts } = await api(server.url, '{ hosts(filter: { name: { eq: "Billing-Host-E2E" } }) { nodes { gpus { status allocatedTo } } } }', {}, admin)
  assert.deepEqual(hosts.nodes[0].gpus, [{ status: 'AVAILABLE', allocatedTo: null }])
  await shot(page, '21-host-declared-lost')
})

test('the datasets list pages through more rows than fit one page, searched and sorted', async () => {
  // Set-up through the API: 23 datasets.
  const admin = (await tokenOf(ADMIN.username, ADMIN.password)).token
  const names = Array.from({ length: 23 }, (_, i) => `Bulk-${String(i + 1).padStart(2, '0')}`)
  for (const name of names) {
    await api(server.url, 'mutation($n: String!) { createDataset(input: { name: $n }) { id } }', { n: name }, admin)
  }
  await page.locator('[data-test=nav] .el-menu-item', { hasText: 'Datasets' }).click()
  await page.waitForURL('**/datasets')
  const rows = page.locator('[data-test=datasets] .el-table__row')
  const shown = async () => (await rows.locator('td:nth-child(2)').allTextContents()).map((t) => t.trim())
  // More than a page in all: the first 20, and a pager that says so.
  await page.locator('[data-test=datasets-range]').waitFor()
  assert.match(((await page.locator('[data-test=datasets-range]').textContent()) ?? '').trim(), /^1–20 of \d+$/)
  // Searching narrows the list to the bulk rows, twenty to a page.
  await page.locator('input[data-test=datasets-search]').fill('Bulk-')
  await page.locator('[data-test=datasets-total]', { hasText: '23 in all' }).waitFor()
  await until(async () => (await shown()).length === 20 && (await shown()).every((n) => n.startsWith('Bulk-')), { what: 'the first page of the search' })
  const first = await shown()
  assert.equal(((await page.locator('[data-test=datasets-range]').textContent()) ?? '').trim(), '1–20 of 23')
  assert.equal(await page.locator('[data-test=datasets-previous]').isDisabled(), true)
  await shot(page, '22-datasets-first-page')
  await page.locator('[data-test=datasets-next]').click()
  await until(async () => (await shown()).length === 3, { what: 'the second page' })
  assert.deepEqual([...first, ...(await shown())].sort(), names, 'every row once, over two pages')
  assert.equal(((await page.locator('[data-test=datasets-range]').textContent()) ?? '').trim(), '21–23 of 23')
  assert.equal(await page.locator('[data-test=datasets-next]').isDisabled(), true)
  await shot(page, '22-datasets-second-page')
  // Sorting by name (the server's order) starts again at the first page.
  await page.locator('[data-test=datasets] th', { hasText: 'Dataset name' }).locator('.sort-caret.ascending').click()
  await until(async () => (await shown()).join() === names.slice(0, 20).join(), { what: 'sorted by name' })
  assert.equal(((await page.locator('[data-test=datasets-range]').textContent()) ?? '').trim(), '1–20 of 23')
  await page.locator('[data-test=datasets-next]').click()
  await until(async () => (await shown()).join() === 'Bulk-21,Bulk-22,Bulk-23', { what: 'the second page by name' })
  await page.locator('[data-test=datasets-previous]').click()
  await until(async () => (await shown()).length === 20, { what: 'the first page again' })
})

let passed = 0
let failed = 0
try {
  server = await startServer()
  browser = await startBrowser()
  for (const { name, fn } of tests) {
    const started = Date.now()
    try {
      await fn()
      passed += 1
      console.log(`ok - ${name} (${Date.now() - started} ms)`)
    } catch (err) {
      failed += 1
      console.log(`not ok - ${name}\n  ${String(err?.stack ?? err).split('\n').join('\n  ')}`)
      if (page) await shot(page, `FAILED-${name.replace(/[^a-z0-9]+/gi, '-')}`).catch(() => undefined)
    }
  }
  // Any request that tried to leave the machine fails the run, whichever test made it.
  if (browser.blocked.length) {
    failed += 1
    console.log(`not ok - no request left 127.0.0.1\n  ${browser.blocked.join('\n  ')}`)
  }
} catch (err) {
  failed += 1
  console.log(`not ok - start-up\n  ${String(err?.stack ?? err)}`)
} finally {
  if (failed) {
    console.log('--- server log (last 40 lines)')
    console.log((server?.logs ?? []).slice(-40).join('\n'))
    console.log('--- agent log (last 20 lines)')
    console.log((agent?.logs ?? []).slice(-20).join('\n'))
  }
  await agent?.stop().catch(() => undefined)
  await browser?.stop().catch(() => undefined)
  await server?.stop().catch(() => undefined)
}
console.log(`screenshots: ${screenshots}`)
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed ? 1 : 0)
