namespace ScheduledPosts.Sandbox;

/// <summary>The sandbox's own endpoints, for tests and the demo to see what was published (not part of the Mastodon API).</summary>
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
