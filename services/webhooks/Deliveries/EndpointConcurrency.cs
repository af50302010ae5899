using System.Collections.Concurrent;

namespace ScheduledPosts.Webhooks.Deliveries;

/// <summary>
/// How many attempts each endpoint may have in flight, learned from its answers the way TCP learns a connection's
/// window (additive increase, multiplicative decrease):
/// <list type="bullet">
/// <item>one more after a whole window of good answers while the endpoint was using all it had (an endpoint that
/// never uses its limit has shown nothing about a larger one);</item>
/// <item>half after an answer that says the endpoint is struggling: no answer in time, a failed connection,
/// <c>429</c>, a <c>5xx</c>, or an answer slower than <see cref="WebhookOptions.SlowAnswerAfter"/>. A <c>4xx</c>
/// other than <c>429</c> is the receiver's verdict on the webhook, not on its load. Only attempts started since the
/// last decrease can cause another, so one bad moment halves the limit once, not once per attempt under way.</item>
/// </list>
/// Every endpoint starts at <see cref="WebhookOptions.InitialConcurrentPerEndpoint"/>, and its limit stays between 1 and
/// <see cref="WebhookOptions.MaxConcurrentPerEndpoint"/>. Each replica learns on its own, from its own attempts, and
/// applies what it learned to the endpoint's attempts in flight across all replicas (the claim counts them all). An
/// endpoint back at the start value with nothing in flight is forgotten.
/// </summary>
public sealed class EndpointConcurrency(int initial, int max, TimeSpan slowAfter)
{
    private readonly ConcurrentDictionary<string, Window> _windows = new();

    public int Initial { get; } = Math.Clamp(initial, 1, max);

    public int Max { get; } = max;

    public bool IsStruggling(int? statusCode, TimeSpan latency) => statusCode is null or 429 or >= 500 || latency > slowAfter;

    /// <summary>The endpoint's limit now.</summary>
    public int LimitOf(string endpointId) => _windows.TryGetValue(endpointId, out var window) ? window.Limit : Initial;

    /// <summary>An attempt to the endpoint starts; pass what this returns to <see cref="Answered"/> when it ends.</summary>
    public AttemptMark Started(string endpointId)
    {
        while (true)
        {
            var window = _windows.GetOrAdd(endpointId, _ => new Window(Initial));
            if (window.TryStart(out var mark))
            {
                return mark;
            }

            // Forgotten between the lookup and the start: take the fresh one.
        }
    }

    /// <summary>Learns from the answer to an attempt that began with <paramref name="mark"/>; says how the limit moved.</summary>
    public LimitChange Answered(string endpointId, AttemptMark mark, bool struggling)
    {
        if (!_windows.TryGetValue(endpointId, out var window))
        {
            return LimitChange.Same; // cannot happen: a window with an attempt in flight is kept
        }

        var change = window.Learn(mark, struggling, Initial, Max, out bool forget);
        if (forget)
        {
            _windows.TryRemove(new KeyValuePair<string, Window>(endpointId, window));
        }

        return change;
    }

    /// <summary>Every endpoint's limit, for the claim: those not at <see cref="Initial"/> by name.</summary>
    public EndpointLimits Limits()
    {
        var learned = _windows.Select(w => (w.Key, w.Value.Limit)).Where(w => w.Limit != Initial).ToArray();
        return new EndpointLimits(Initial, [.. learned.Select(w => w.Key)], [.. learned.Select(w => w.Limit)]);
    }

    private sealed class Window(int limit)
    {
        private readonly Lock _lock = new();
        private int _inFlight;
        private int _goodAnswers;
        private bool _usedAll;
        private bool _forgotten;
        private long _generation;

        public int Limit { get; private set; } = limit;

        public bool TryStart(out AttemptMark mark)
        {
            lock (_lock)
            {
                mark = new AttemptMark(_generation);
                if (_forgotten)
                {
                    return false;
                }

                _inFlight++;
                _usedAll |= _inFlight >= Limit;
                return true;
            }
        }

        public LimitChange Learn(AttemptMark mark, bool struggling, int initial, int max, out bool forget)
        {
            lock (_lock)
            {
                _inFlight--;
                var change = Apply(mark, struggling, max);
                forget = _forgotten = _inFlight == 0 && Limit == initial && _goodAnswers == 0;
                return change;
            }
        }

        private LimitChange Apply(AttemptMark mark, bool struggling, int max)
        {
            if (struggling)
            {
                _goodAnswers = 0;
                _usedAll = false;
                if (mark.Generation != _generation || Limit == 1)
                {
                    return LimitChange.Same;
                }

                Limit = Math.Max(1, Limit / 2);
                _generation++;
                return LimitChange.Shrank;
            }

            if (Limit >= max || ++_goodAnswers < Limit)
            {
                return LimitChange.Same;
            }

            // A window of good answers: grow only if the endpoint had all its limit in flight during it.
            bool grow = _usedAll;
            _goodAnswers = 0;
            _usedAll = _inFlight >= Limit;
            if (!grow)
            {
                return LimitChange.Same;
            }

            Limit++;
            return LimitChange.Grew;
        }
    }
}

/// <summary>Which decrease an attempt started after: answers to attempts from before the last one cannot cause another.</summary>
public readonly record struct AttemptMark(long Generation);

public enum LimitChange
{
    Same,
    Grew,
    Shrank,
}
