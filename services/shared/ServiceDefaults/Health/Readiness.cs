using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using ScheduledPosts.ServiceDefaults.Json;

namespace ScheduledPosts.ServiceDefaults.Health;

/// <summary>
/// What <c>/readyz</c> asks and answers. Checks tagged <see cref="Ready"/> decide readiness: the database and the
/// broker answer (MassTransit reports a bus that is (re)connecting as Degraded, which is not ready either). Checks tagged
/// <see cref="Watch"/> are the service watching its own work, such as posts overdue: they make the answer say
/// <c>Degraded</c> with their figures, but keep it 200 — the service can still take requests, and taking it out of
/// rotation would not get a post out any sooner.
/// </summary>
public static class Readiness
{
    public const string Ready = "ready";
    public const string Watch = "watch";

    public static HealthCheckOptions Options { get; } = new()
    {
        Predicate = check => check.Tags.Contains(Ready) || check.Tags.Contains(Watch),
        ResponseWriter = WriteAsync,
    };

    private sealed record CheckJson(string Status, string? Description, IReadOnlyDictionary<string, object> Data);

    private sealed record ReadinessJson(string Status, IReadOnlyDictionary<string, CheckJson> Checks);

    private static Task WriteAsync(HttpContext context, HealthReport report)
    {
        bool ready = report.Entries.Values.All(e => !e.Tags.Contains(Ready) || e.Status == HealthStatus.Healthy);
        context.Response.StatusCode = ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
        context.Response.ContentType = "application/json";
        var body = new ReadinessJson(
            report.Status.ToString(),
            report.Entries.ToDictionary(e => e.Key, e => new CheckJson(e.Value.Status.ToString(), e.Value.Description, e.Value.Data)));
        return JsonSerializer.SerializeAsync(context.Response.Body, body, JsonDefaults.Options, context.RequestAborted);
    }
}
