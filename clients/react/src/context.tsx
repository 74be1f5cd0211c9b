// Where the hooks find creditkit: `<CreditKitProvider config={…}>` around the customer's pages.
// A config without `customer` is completed from `GET /v1/session` (whose the token is): the
// hooks that read the customer's data wait for it; nothing runs while rendering on a server.
import { createContext, useContext, useEffect, useMemo, useState, type ReactNode } from "react";

import { call, type CreditKitConfig } from "./api.js";
import type { SessionInfo } from "./types.js";

interface Provided {
  readonly config: CreditKitConfig;
  /** Whose the token is, once read (undefined until then, or when the config named the customer
   * and nothing asked). */
  readonly session: SessionInfo | undefined;
  readonly sessionError: Error | undefined;
}

const Config = createContext<Provided | null>(null);

export function CreditKitProvider({ config, children }: { config: CreditKitConfig; children?: ReactNode }): ReactNode {
  const [session, setSession] = useState<SessionInfo | undefined>(undefined);
  const [sessionError, setSessionError] = useState<Error | undefined>(undefined);
  useEffect(() => {
    let current = true;
    setSession(undefined);
    setSessionError(undefined);
    call<SessionInfo>(config, "/v1/session").then(
      (answer) => current && setSession(answer),
      (error: unknown) => current && setSessionError(error instanceof Error ? error : new Error(String(error))),
    );
    return () => {
      current = false;
    };
  }, [config]);
  const provided = useMemo(
    () => ({
      config: config.customer === undefined && session !== undefined ? { ...config, customer: session.customer } : config,
      session,
      sessionError,
    }),
    [config, session, sessionError],
  );
  return <Config.Provider value={provided}>{children}</Config.Provider>;
}

function useProvided(): Provided {
  const provided = useContext(Config);
  if (provided === null) {
    throw new Error("@creditkit/react: wrap the page in <CreditKitProvider config={{ baseUrl, token }}>");
  }
  return provided;
}

/** The provider's config (with the customer once known); a hook used outside it is a
 * programmer's error, said plainly. */
export function useCreditKitConfig(): CreditKitConfig {
  return useProvided().config;
}

/** Whose the session token is: its customer, member, permissions and expiry (`GET /v1/session`). */
export function useSession(): { readonly data: SessionInfo | undefined; readonly error: Error | undefined; readonly loading: boolean } {
  const { session, sessionError } = useProvided();
  return { data: session, error: sessionError, loading: session === undefined && sessionError === undefined };
}
