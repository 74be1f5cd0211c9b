// Where the hooks find creditkit: `<CreditKitProvider config={…}>` around the customer's pages.
import { createContext, useContext, type ReactNode } from "react";

import type { CreditKitConfig } from "./api.js";

const Config = createContext<CreditKitConfig | null>(null);

export function CreditKitProvider({ config, children }: { config: CreditKitConfig; children?: ReactNode }): ReactNode {
  return <Config.Provider value={config}>{children}</Config.Provider>;
}

/** The provider's config; a hook used outside it is a programmer's error, said plainly. */
export function useCreditKitConfig(): CreditKitConfig {
  const config = useContext(Config);
  if (config === null) {
    throw new Error("@creditkit/react: wrap the page in <CreditKitProvider config={{ baseUrl, token, customer }}>");
  }
  return config;
}
