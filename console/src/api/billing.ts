// Billing: spend against a monthly limit (live over `spendUpdates`), invoices with their
// billing records, and the price book. Money is a Decimal string and stays one.
import { graphql } from '../gql'

export const SPEND_FIELDS = graphql(`
  fragment SpendFields on AccountSpend {
    account month spendThisMonth spendLimit alert at
  }
`)

/** One account's spend: a customer's (yourself; operators: anyone) or a workspace's. */
export const ACCOUNT_SPEND = graphql(`
  query AccountSpend($customerId: ID!, $workspaceId: ID!, $workspace: Boolean!) {
    customer(id: $customerId) @skip(if: $workspace) { id username spend { ...SpendFields } }
    workspace(id: $workspaceId) @include(if: $workspace) { id name spend { ...SpendFields } }
  }
`)

/** The accounts an operator may look at besides their own. */
export const BILLING_CUSTOMERS = graphql(`
  query BillingCustomers {
    customers(first: 100, orderBy: [{ field: ID, direction: ASC }]) { nodes { id username } }
  }
`)

export const SPEND_UPDATES = graphql(`
  subscription SpendUpdates($workspaceId: ID, $customerId: ID) {
    spendUpdates(workspaceId: $workspaceId, customerId: $customerId) { ...SpendFields }
  }
`)

export const SET_SPEND_LIMIT = graphql(`
  mutation SetSpendLimit($workspaceId: ID, $customerId: ID, $limit: Decimal) {
    setSpendLimit(workspaceId: $workspaceId, customerId: $customerId, limit: $limit) { ...SpendFields }
  }
`)

export const BILLING_RECORD_FIELDS = graphql(`
  fragment BillingRecordFields on BillingRecord {
    id envId invoiceId resourceType gpuModel bucketStart seconds quantity unitPrice amount
    environment { id name }
  }
`)

export const INVOICE_FIELDS = graphql(`
  fragment InvoiceFields on Invoice {
    id invoiceNo customerId workspaceId periodStart periodEnd subtotal tax taxRate totalAmount currency status
    issuedAt dueAt paidAt
    customer { id username }
  }
`)

export const INVOICES = graphql(`
  query Invoices {
    invoices(first: 50, orderBy: [{ field: PERIOD_START, direction: DESC }]) {
      totalCount
      nodes { ...InvoiceFields }
    }
  }
`)

/** An invoice's records, read when its row is opened (a month can hold thousands). */
export const INVOICE_RECORDS = graphql(`
  query InvoiceRecords($invoiceId: ID!, $first: Int!) {
    billingRecords(filter: { invoiceId: { eq: $invoiceId } }, orderBy: [{ field: START_TIME, direction: ASC }], first: $first) {
      totalCount
      nodes { ...BillingRecordFields }
    }
  }
`)

export const MARK_INVOICE_PAID = graphql(`
  mutation MarkInvoicePaid($id: ID!) { markInvoicePaid(id: $id) { ...InvoiceFields } }
`)

export const VOID_INVOICE = graphql(`
  mutation VoidInvoice($id: ID!) { voidInvoice(id: $id) { ...InvoiceFields } }
`)

export const PRICE_FIELDS = graphql(`
  fragment PriceFields on Price { id resourceType gpuModel unitPrice effectiveFrom createdAt }
`)

export const PRICES = graphql(`
  query Prices {
    prices(first: 100, orderBy: [{ field: EFFECTIVE_FROM, direction: DESC }]) {
      totalCount
      nodes { ...PriceFields }
    }
  }
`)

export const SET_PRICE = graphql(`
  mutation SetPrice($input: SetPriceInput!) { setPrice(input: $input) { ...PriceFields } }
`)
