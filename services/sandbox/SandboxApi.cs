namespace ScheduledPosts.Sandbox;

/// <summary>The sandbox's own endpoints, for tests and the demo to see what was published and to inject faults (not part of the Mastodon API).</summary>
public static class SandboxApi
{
    public static IEndpointRouteBuilder MapSandboxApi(this IEndpointRouteBuilder app)
    {
        var sandbox = app.MapGroup("/sandbox");
        sandbox.MapGet("/statuses", (StatusStore store) => TypedResults.Ok(store.All()));
        sandbox.MapDelete("/statuses", (StatusStore store) =>
        {
            store.Clear();
            return TypedResults.NoContent();
        });

        sandbox.MapPost("/faults", (FaultRequest request, Faults faults) => faults.Set(request) switch
        {
            ({ } fault, _) => Results.Ok(fault),
            (_, var error) => Results.BadRequest(new { error }),
        });
        sandbox.MapGet("/faults", (Faults faults) => TypedResults.Ok(faults.All()));
        sandbox.MapDelete("/faults", (Faults faults) =>
        {
            faults.Clear();
            return TypedResults.NoContent();
        });

        sandbox.MapPost("/webhooks", async (HttpRequest request, WebhookInbox inbox) =>
        {
            using var reader = new StreamReader(request.Body);
            inbox.Record(request, await reader.ReadToEndAsync());
            return TypedResults.NoContent();
        });
        sandbox.MapGet("/webhooks", (WebhookInbox inbox) => TypedResults.Ok(inbox.All()));
        return app;
    }
}
