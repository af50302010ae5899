using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.Options;
using ScheduledPosts.Webhooks.Signing;

namespace ScheduledPosts.Webhooks.Deliveries;

/// <summary>
/// Sends due deliveries: claims them (<c>FOR UPDATE SKIP LOCKED</c>, so replicas share the work), makes each
/// attempt concurrently up to a global bound, a per-endpoint one learned from the endpoint's answers
/// (<see cref="EndpointConcurrency"/>) and a per-workspace one (so a slow or dead endpoint, or one workspace's many,
/// holds a share of the slots, never all), records it (handing a well-answered attempt's slot to the endpoint's next
/// due delivery when no older one waits), and sleeps until the next one falls due or it is woken
/// (<see cref="DeliveryNotifications"/>).
/// </summary>
public sealed partial class DeliverySender(
    DeliveryStore store,
    DeliveryNotifications notifications,
    SecretProtector secrets,
    IHttpClientFactory httpClientFactory,
    EndpointConcurrency concurrency,
    IOptions<WebhookOptions> options,
    TimeProvider clock,
    DeliveryMetrics metrics,
    ILogger<DeliverySender> logger) : BackgroundService
{
    public const string HttpClientName = "webhooks";

    private static readonly TimeSpan MinSleep = TimeSpan.FromMilliseconds(50);

    // Due deliveries left unclaimed (their endpoint or workspace at its cap, perhaps on another replica): look again
    // this soon. Attempts finishing on this replica wake the sender sooner (another replica's do not).
    private static readonly TimeSpan UnclaimedRecheck = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan ErrorBackoff = TimeSpan.FromSeconds(5);

    private readonly WebhookOptions _options = options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        int capacity = _options.MaxConcurrentDeliveries;
        using var slots = new SemaphoreSlim(capacity, capacity);
        while (!stoppingToken.IsCancellationRequested)
        {
            TimeSpan sleep;
            try
            {
                sleep = await ClaimAndStartAsync(slots, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                Log.ClaimFailed(logger, e, ErrorBackoff);
                sleep = ErrorBackoff;
            }

            try
            {
                await notifications.WaitAsync(sleep, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        // Attempts in flight finish (each is bounded by the request timeout); one the host cuts off is claimed again after its lease.
        for (int i = 0; i < capacity; i++)
        {
            await slots.WaitAsync(CancellationToken.None);
        }
    }

    /// <summary>Starts attempts for as many due deliveries as there are free slots; returns how long to sleep.</summary>
    private async Task<TimeSpan> ClaimAndStartAsync(SemaphoreSlim slots, CancellationToken ct)
    {
        int free = slots.CurrentCount;
        if (free == 0)
        {
            return _options.MaxIdle; // a finishing attempt wakes us
        }

        var now = clock.GetUtcNow();
        var claim = await store.ClaimAsync(
            free, concurrency.Limits(), _options.MaxConcurrentPerWorkspace, now, now + _options.ClaimLease, ct);
        foreach (var delivery in claim.Deliveries)
        {
            await slots.WaitAsync(CancellationToken.None); // free: only this loop takes slots
            _ = AttemptAndReleaseAsync(delivery, slots, ct);
        }

        if (claim.Deliveries.Count == free)
        {
            return TimeSpan.Zero; // there may be more due
        }

        var sleep = claim.NextDue is { } due ? due - now : _options.MaxIdle;
        if (claim.DueUnclaimed && sleep > UnclaimedRecheck)
        {
            sleep = UnclaimedRecheck;
        }

        return sleep < MinSleep ? MinSleep : sleep > _options.MaxIdle ? _options.MaxIdle : sleep;
    }

    private async Task AttemptAndReleaseAsync(ClaimedDelivery delivery, SemaphoreSlim slots, CancellationToken stoppingToken)
    {
        ClaimedDelivery? current = delivery;
        try
        {
            // A slot handed over to the endpoint's next delivery is used at once, without waiting for a claim.
            while (current is not null)
            {
                current = await AttemptAsync(current, stoppingToken);
            }
        }
        catch (Exception e)
        {
            Log.RecordFailed(logger, e, current?.Id);
        }
        finally
        {
            slots.Release();
            notifications.Wake();
        }
    }

    /// <summary>Makes and records one attempt; returns the endpoint's next delivery when the slot was handed over to it.</summary>
    private async Task<ClaimedDelivery?> AttemptAsync(ClaimedDelivery delivery, CancellationToken stoppingToken)
    {
        if (!delivery.EndpointEnabled)
        {
            await store.AbandonAsync(delivery, "The endpoint is disabled.", clock.GetUtcNow());
            return null;
        }

        // Throws when the secret cannot be decrypted (a wrong Webhooks:SecretKey): the delivery waits out its lease, no attempt spent.
        var signingSecrets = new EndpointSecrets(
            secrets.Unprotect(delivery.StoredSecrets.Current, delivery.EndpointId),
            delivery.StoredSecrets.Previous is { } previous ? secrets.Unprotect(previous, delivery.EndpointId) : null,
            delivery.StoredSecrets.PreviousExpiresAt);

        var attemptedAt = clock.GetUtcNow();
        var mark = concurrency.Started(delivery.EndpointId);
        long started = clock.GetTimestamp();
        var (statusCode, error) = await SendAsync(delivery, signingSecrets.SigningAt(attemptedAt), attemptedAt);
        var latency = clock.GetElapsedTime(started);
        int latencyMs = (int)latency.TotalMilliseconds;
        // Learned before the attempt is recorded: the claim that its freed lease lets in sees the new limit.
        bool struggling = concurrency.IsStruggling(statusCode, latency);
        var limitChange = concurrency.Answered(delivery.EndpointId, mark, struggling);

        var attempt = new DeliveryAttempt(delivery.AttemptCount + 1, attemptedAt, statusCode, latencyMs, error);
        var now = clock.GetUtcNow();
        var decision = DeliveryRules.Decide(statusCode, delivery.RoundAttempts + 1, _options.EffectiveRetrySchedule, now);
        // Only after a success, answered in good time: a failing or struggling endpoint's next delivery waits for a claim
        // turn under its new limit (and a 410 disables it first).
        DateTimeOffset? handOverUntil = decision.Status == DeliveryStatus.Delivered && !struggling && !stoppingToken.IsCancellationRequested
            ? now + _options.ClaimLease
            : null;
        // A 410 switches the endpoint off before the attempt is recorded: whoever sees the delivery failed sees it off too.
        bool disabled = DeliveryRules.DisableReason(statusCode, null, attemptedAt, _options.DisableAfterFailingFor) is { } gone
            && await DisableAsync(delivery.EndpointId, gone, now);
        var recorded = await store.RecordAttemptAsync(delivery, attempt, decision, now, handOverUntil);
        metrics.Attempted(decision.Status, TimeSpan.FromMilliseconds(latencyMs));

        if (limitChange != LimitChange.Same)
        {
            Log.LimitChanged(logger, delivery.EndpointId, concurrency.LimitOf(delivery.EndpointId), limitChange);
            if (limitChange == LimitChange.Grew)
            {
                notifications.Wake(); // a slot more for the endpoint: the next claim fills it
            }
        }

        if (!recorded.Held)
        {
            Log.LeaseLost(logger, delivery.Id, attempt.Number);
        }
        else if (decision.Status == DeliveryStatus.Delivered)
        {
            Log.Delivered(logger, delivery.Id, delivery.EventId, delivery.EndpointId, statusCode, latencyMs);
        }
        else
        {
            Log.AttemptFailed(logger, attempt.Number, delivery.Id, delivery.EndpointId, statusCode?.ToString(CultureInfo.InvariantCulture) ?? error,
                decision.Status, decision.NextAttemptAt);
        }

        // Failing for too long is known only once this attempt is recorded.
        if (!disabled && DeliveryRules.DisableReason(statusCode, recorded.EndpointFailingSince, attemptedAt, _options.DisableAfterFailingFor) is { } reason)
        {
            await DisableAsync(delivery.EndpointId, reason, now);
        }

        return recorded.HandedOver;
    }

    private async Task<bool> DisableAsync(string endpointId, string reason, DateTimeOffset now)
    {
        if (!await store.DisableEndpointAsync(endpointId, reason, now))
        {
            return false;
        }

        Log.EndpointDisabled(logger, endpointId, reason);
        return true;
    }

    /// <summary>One signed POST (Standard Webhooks headers); the status code, or the reason there was none.</summary>
    private async Task<(int? StatusCode, string? Error)> SendAsync(ClaimedDelivery delivery, IReadOnlyList<string> signingSecrets, DateTimeOffset now)
    {
        long timestamp = now.ToUnixTimeSeconds();
        // HTTP/2 where an https endpoint offers it (many attempts share one connection), else HTTP/1.1 with keep-alive:
        // either way an attempt reuses a pooled connection rather than opening its own.
        using var request = new HttpRequestMessage(HttpMethod.Post, delivery.Url)
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
        };
        request.Content = new ByteArrayContent(Encoding.UTF8.GetBytes(delivery.Body));
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        // The event id: stable across retries and redeliveries, so receivers can drop duplicates.
        request.Headers.Add("webhook-id", delivery.EventId);
        request.Headers.Add("webhook-timestamp", timestamp.ToString(CultureInfo.InvariantCulture));
        request.Headers.Add("webhook-signature", WebhookSignature.Header(signingSecrets, delivery.EventId, timestamp, delivery.Body));

        try
        {
            // The client's timeout is the request timeout; not the stopping token: an attempt under way finishes.
            using var response = await httpClientFactory.CreateClient(HttpClientName)
                .SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            return ((int)response.StatusCode, null);
        }
        catch (TaskCanceledException)
        {
            return (null, $"No response within {_options.RequestTimeout.TotalSeconds:0.###} s.");
        }
        catch (Exception e)
        {
            // Connection refused, a refused address, TLS: a failed attempt like any other, retried on the schedule.
            return (null, e.Message);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Error, Message = "Claiming due webhook deliveries failed; trying again in {Delay}")]
        public static partial void ClaimFailed(ILogger logger, Exception exception, TimeSpan delay);

        [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "Delivery {DeliveryId} could not be recorded; it is tried again after its lease")]
        public static partial void RecordFailed(ILogger logger, Exception exception, string? deliveryId);

        [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "Delivery {DeliveryId}: the lease ran out during attempt {Attempt}; another sender has it")]
        public static partial void LeaseLost(ILogger logger, string deliveryId, int attempt);

        [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "Delivered {DeliveryId} ({EventId}) to {EndpointId}: {StatusCode} in {LatencyMs} ms")]
        public static partial void Delivered(ILogger logger, string deliveryId, string eventId, string endpointId, int? statusCode, int latencyMs);

        [LoggerMessage(EventId = 5, Level = LogLevel.Warning,
            Message = "Attempt {Attempt} of delivery {DeliveryId} to {EndpointId} failed ({Outcome}); now {Status}, next attempt at {NextAttemptAt}")]
        public static partial void AttemptFailed(ILogger logger, int attempt, string deliveryId, string endpointId, string? outcome, string status,
            DateTimeOffset? nextAttemptAt);

        [LoggerMessage(EventId = 6, Level = LogLevel.Warning, Message = "Disabled webhook endpoint {EndpointId}: {Reason}")]
        public static partial void EndpointDisabled(ILogger logger, string endpointId, string reason);

        [LoggerMessage(EventId = 7, Level = LogLevel.Debug, Message = "Endpoint {EndpointId} may now have {Limit} attempts in flight ({Change})")]
        public static partial void LimitChanged(ILogger logger, string endpointId, int limit, LimitChange change);
    }
}
