namespace ScheduledPosts.Webhooks.Deliveries;

/// <summary>
/// What an answer does to its endpoint's limit of attempts in flight: raise it by one, lower it (halve it, down to
/// <see cref="Floor"/>), or leave it. The store applies it to the limit as it then stands.
/// </summary>
public readonly record struct LimitChange(bool Raise, int? Floor)
{
    public static readonly LimitChange None = new(false, null);
}

/// <summary>
/// The adaptive concurrency of docs/api.md#delivery-and-retries (additive increase, multiplicative decrease, as TCP's
/// congestion window): a quick 2xx raises the endpoint's limit by one with probability 1/limit, so by one for each
/// limit's worth of quick answers on average, with no count to keep; a slow 2xx halves it, not below the initial
/// limit (a slow but healthy endpoint keeps the share every endpoint starts with); a failure, a timeout or no answer
/// halves it down to one.
/// </summary>
public static class ConcurrencyRules
{
    /// <param name="statusCode">The response status, or null when there was none (timeout, connection error).</param>
    /// <param name="latency">How long the endpoint took to answer.</param>
    /// <param name="limit">The endpoint's limit when the attempt was claimed.</param>
    /// <param name="sample">A uniform random number in [0, 1): the draw that decides a raise.</param>
    public static LimitChange After(int? statusCode, TimeSpan latency, int limit, double sample, int initialLimit, TimeSpan slowAnswer)
    {
        if (statusCode is not (>= 200 and < 300))
        {
            return new LimitChange(false, 1);
        }

        if (latency > slowAnswer)
        {
            return new LimitChange(false, initialLimit);
        }

        return sample * limit < 1 ? new LimitChange(true, null) : LimitChange.None;
    }
}
