using Dapper;
using Npgsql;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.Webhooks.Deliveries;

namespace ScheduledPosts.Webhooks.Api;

/// <summary>
/// <c>GET /admin/status</c>: the webhooks part of the gateway's admin status (docs/operations.md#admin-status), measured
/// when asked — the delivery backlog and the endpoints that are switched off or failing, as counts across all
/// workspaces (no endpoint, URL or workspace appears in it). Only the gateway's identity for the admin token gets it
/// (<see cref="InternalPolicies.Admin"/>), checked here too.
/// </summary>
public static class StatusApi
{
    public static IEndpointRouteBuilder MapStatusApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/admin/status", GetStatusAsync)
            .RequireAuthorization(InternalPolicies.Admin)
            .ExcludeFromDescription();
        return app;
    }

    private static async Task<IResult> GetStatusAsync(NpgsqlDataSource dataSource, TimeProvider clock, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        // A claimed delivery stays pending with next_attempt_at pushed to its lease's end: in flight, not due.
        var s = await connection.QuerySingleAsync<(long Pending, long Due, double OldestDueAge, double OldestPendingAge, long Endpoints, long Disabled, long Failing, double LongestFailing)>($"""
            SELECT (SELECT count(*) FROM deliveries WHERE status = '{DeliveryStatus.Pending}'),
                   (SELECT count(*) FROM deliveries WHERE status = '{DeliveryStatus.Pending}' AND next_attempt_at <= clock_timestamp()),
                   coalesce((SELECT extract(epoch FROM clock_timestamp() - min(next_attempt_at))::float8 FROM deliveries
                             WHERE status = '{DeliveryStatus.Pending}' AND next_attempt_at <= clock_timestamp()), 0),
                   coalesce((SELECT extract(epoch FROM clock_timestamp() - min(created_at))::float8 FROM deliveries
                             WHERE status = '{DeliveryStatus.Pending}'), 0),
                   (SELECT count(*) FROM endpoints),
                   (SELECT count(*) FROM endpoints WHERE NOT enabled),
                   (SELECT count(*) FROM endpoints WHERE enabled AND failing_since IS NOT NULL),
                   coalesce((SELECT extract(epoch FROM clock_timestamp() - min(failing_since))::float8 FROM endpoints
                             WHERE enabled AND failing_since IS NOT NULL), 0)
            """);
        return TypedResults.Ok(new WebhooksStatusJson(clock.GetUtcNow(),
            new DeliveryBacklogJson(s.Pending, s.Due, Round(s.OldestDueAge), Round(s.OldestPendingAge)),
            new EndpointHealthJson(s.Endpoints, s.Disabled, s.Failing, Round(s.LongestFailing))));
    }

    private static double Round(double seconds) => Math.Round(seconds, 3);
}

public sealed record WebhooksStatusJson(DateTimeOffset MeasuredAt, DeliveryBacklogJson Deliveries, EndpointHealthJson Endpoints);

/// <param name="Pending">Deliveries not yet delivered or failed, retries waiting for their time included.</param>
/// <param name="Due">Pending deliveries whose time has come and that no sender holds: the backlog.</param>
/// <param name="OldestDueAgeSeconds">How long the oldest due delivery has waited past its time.</param>
/// <param name="OldestPendingAgeSeconds">How long ago the oldest pending delivery was created.</param>
public sealed record DeliveryBacklogJson(long Pending, long Due, double OldestDueAgeSeconds, double OldestPendingAgeSeconds);

/// <param name="Disabled">Switched off: by their owner, a 410, or failing for too long.</param>
/// <param name="Failing">Enabled, and whose attempts have failed since their last 2xx.</param>
/// <param name="LongestFailingSeconds">How long the endpoint failing longest has been failing.</param>
public sealed record EndpointHealthJson(long Total, long Disabled, long Failing, double LongestFailingSeconds);
