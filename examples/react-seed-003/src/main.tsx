// Seed 003's pages a customer sees, with @creditkit/react: the sidebar's credit meter and
// balance, the AI actions (a 402 opens the Paywall), this period's usage by action, and the
// plan comparison with an upgrade through checkout.
import { StrictMode, useState } from "react";
import { createRoot } from "react-dom/client";

import { CreditBalance, CreditKitProvider, CreditMeter, Paywall, PlanTable, UsageBreakdown, type Refusal } from "@creditkit/react";

interface Settings {
  readonly baseUrl: string;
  readonly token: string;
  readonly actions: boolean;
}

const settings = JSON.parse(document.getElementById("settings")?.textContent ?? "{}") as Settings;
// No customer: the provider asks creditkit whose the token is (GET /v1/session).
const config = { baseUrl: settings.baseUrl, token: settings.token };

const ACTIONS = [
  { id: "ask_anything", label: "Ask Anything", credits: 2 },
  { id: "account_dossier", label: "Account Dossier", credits: 8 },
  { id: "icp_analysis", label: "ICP Analysis", credits: 15 },
] as const;

function Actions({ onRefused, onDone }: { onRefused: (refusal: Refusal) => void; onDone: () => void }) {
  const [busy, setBusy] = useState(false);
  const run = async (action: string) => {
    setBusy(true);
    try {
      const answer = await fetch(`/api/actions/${action}`, { method: "POST" });
      if (answer.status === 402 || answer.status === 403) {
        onRefused((await answer.json()) as Refusal);
      } else {
        onDone();
      }
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="actions-title" className="demo-card">
      <h2 id="actions-title">AI actions</h2>
      <div className="demo-actions">
        {ACTIONS.map((action) => (
          <button key={action.id} type="button" className="ck-button" disabled={busy} onClick={() => void run(action.id)}>
            {`${action.label} · ${action.credits} credits`}
          </button>
        ))}
      </div>
    </section>
  );
}

function App() {
  const [round, setRound] = useState(0);
  const [refusal, setRefusal] = useState<Refusal | null>(null);
  const here = `${location.origin}/`;
  const checkout = { successUrl: `${here}?paid=1`, cancelUrl: here };
  return (
    <CreditKitProvider config={config}>
      <div className="demo" key={round}>
        <aside className="demo-sidebar" aria-label="Credits">
          <CreditMeter />
          <CreditBalance />
        </aside>
        <main className="demo-main">
          <h1>Acme Sales · credits</h1>
          {new URLSearchParams(location.search).has("paid") ? (
            <p role="status" className="demo-notice">
              Payment received: your credits are added.
            </p>
          ) : null}
          {settings.actions ? <Actions onRefused={setRefusal} onDone={() => setRound((value) => value + 1)} /> : null}
          {refusal === null ? null : <Paywall refusal={refusal} checkout={checkout} />}
          <section className="demo-card">
            <UsageBreakdown />
          </section>
          <section className="demo-card">
            <PlanTable checkout={checkout} />
          </section>
        </main>
      </div>
    </CreditKitProvider>
  );
}

const root = document.getElementById("root");
if (root !== null) {
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
}
