namespace ScheduledPosts.Sandbox;

/// <summary>
/// A fault to inject, as <c>POST /sandbox/faults</c> takes it. It applies to the Mastodon API requests of
/// <see cref="Handle"/> (the bearer token; every account when absent), to the next <see cref="FailNext"/> of them
/// (all of them, until <c>DELETE /sandbox/faults</c>, when absent). Each such request first waits
/// <see cref="LatencyMs"/>; then, with <see cref="Mode"/> <c>timeout</c>, it is carried out (a status is recorded)
/// but answered only after the client has given up; else, with a <see cref="Status"/>, it is refused with that
/// status (and <c>Retry-After: </c><see cref="RetryAfter"/> seconds) and not carried out; else it is served late.
/// </summary>
public sealed record FaultRequest(string? Handle, int? Status, int? FailNext, int? RetryAfter, int? LatencyMs, string? Mode);

/// <summary>A fault in force, with how many requests it still applies to (null: until cleared).</summary>
public sealed record ActiveFault(string? Handle, int? Status, int? Remaining, int? RetryAfter, int LatencyMs, bool Timeout);

/// <summary>The faults the sandbox injects (docs/publishing.md#fault-injection: latency, 5xx, 429 and timeouts on demand): one per handle, the last set wins.</summary>
public sealed class Faults(IHostApplicationLifetime lifetime, TimeProvider clock)
{
    /// <summary>How long a <c>timeout</c> fault holds an answer for a client that never gives up.</summary>
    private static readonly TimeSpan MaxHold = TimeSpan.FromMinutes(5);

    private readonly Lock _lock = new();
    private readonly List<ActiveFault> _faults = [];

    /// <summary>Sets a fault, or says what is wrong with it.</summary>
    public (ActiveFault? Fault, string? Error) Set(FaultRequest request)
    {
        string? error = request switch
        {
            { Status: < 400 or > 599 } => "status must be an HTTP error status (400–599).",
            { FailNext: < 1 } => "failNext must be at least 1.",
            { RetryAfter: < 0 } => "retryAfter must not be negative.",
            { LatencyMs: < 0 or > 600_000 } => "latencyMs must be between 0 and 600000.",
            { Mode: not (null or "timeout") } => "mode must be \"timeout\" or absent.",
            { Status: null, LatencyMs: null or 0, Mode: null } => "Say what to inject: status, latencyMs or mode.",
            _ => null,
        };
        if (error is not null)
        {
            return (null, error);
        }

        string? handle = request.Handle is { Length: > 0 } h ? h : null;
        var fault = new ActiveFault(handle, request.Status, request.FailNext, request.RetryAfter, request.LatencyMs ?? 0, request.Mode == "timeout");
        lock (_lock)
        {
            _faults.RemoveAll(f => f.Handle == handle);
            _faults.Add(fault);
        }

        return (fault, null);
    }

    public IReadOnlyList<ActiveFault> All()
    {
        lock (_lock)
        {
            return [.. _faults];
        }
    }

    public void Clear()
    {
        lock (_lock)
        {
            _faults.Clear();
        }
    }

    /// <summary>The fault that applies to a request of <paramref name="handle"/>, counted as used; an account's own fault first.</summary>
    private ActiveFault? Take(string? handle)
    {
        lock (_lock)
        {
            int i = _faults.FindIndex(f => handle is not null && f.Handle == handle);
            if (i < 0)
            {
                i = _faults.FindIndex(f => f.Handle is null);
            }

            if (i < 0)
            {
                return null;
            }

            var fault = _faults[i];
            if (fault.Remaining is int remaining)
            {
                if (remaining <= 1)
                {
                    _faults.RemoveAt(i);
                }
                else
                {
                    _faults[i] = fault with { Remaining = remaining - 1 };
                }
            }

            return fault;
        }
    }

    /// <summary>The endpoint filter on the Mastodon API.</summary>
    public async ValueTask<object?> InjectAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        if (Take(MastodonApi.BearerToken(http.Request)) is not { } fault)
        {
            return await next(context);
        }

        try
        {
            if (fault.LatencyMs > 0)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(fault.LatencyMs), clock, http.RequestAborted);
            }

            if (fault.Timeout)
            {
                var result = await next(context);
                using var stopping = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, lifetime.ApplicationStopping);
                await Task.Delay(MaxHold, clock, stopping.Token);
                return result;
            }
        }
        catch (OperationCanceledException)
        {
            // The client gave up (or the sandbox is stopping): there is no one left to answer.
            return Results.Empty;
        }

        if (fault.Status is not int status)
        {
            return await next(context);
        }

        if (fault.RetryAfter is int seconds)
        {
            http.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (status == StatusCodes.Status429TooManyRequests)
            {
                // What Mastodon itself sends (https://docs.joinmastodon.org/api/rate-limits/).
                http.Response.Headers["X-RateLimit-Reset"] = MastodonApi.IsoTimestamp(clock.GetUtcNow().AddSeconds(seconds));
            }
        }

        return MastodonApi.Fail(status, status == StatusCodes.Status429TooManyRequests ? "Too many requests" : $"Injected fault ({status})");
    }
}
